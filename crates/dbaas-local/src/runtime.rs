use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use dbaas_drivers::{
    AdminAccess, DriverError, EngineRuntime, EngineSpec, EngineStatus, EngineTools, Result,
};

/// Configuration of the local engine runtime.
#[derive(Debug, Clone)]
pub struct LocalRuntimeConfig {
    /// The agent's data directory; templates and sockets live under it.
    pub data_dir: PathBuf,
    /// PostgreSQL major version -> directory holding initdb, pg_ctl, postgres.
    pub versions: BTreeMap<String, PathBuf>,
    /// OS user the engines run as. PostgreSQL refuses to run as root, so an
    /// agent running as root needs one (`postgres` by default).
    pub run_as: Option<String>,
    /// Continuous WAL archiving: `Some(archive_timeout)` switches it on.
    pub archive_timeout_seconds: Option<u64>,
}

/// Runs PostgreSQL servers as local processes.
///
/// A new engine's data directory is a copy of a template made once per
/// version by `initdb` (copying is several times faster than initdb). One
/// copy is kept ready as a spare beside the template: a create renames it
/// into its volume (instant on one filesystem) and a fresh spare is copied
/// in the background.
/// Servers are started by `pg_ctl` in a process group of their own, so a
/// crash of the agent (or a Ctrl-C in its terminal) does not take them
/// down; the agent finds them again through `postmaster.pid`.
pub struct LocalRuntime {
    cfg: LocalRuntimeConfig,
    template_lock: tokio::sync::Mutex<()>,
    /// Held while a spare data directory is being made.
    spare_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

const ENGINE: &str = "postgresql";

fn err(what: impl std::fmt::Display) -> DriverError {
    DriverError::new(what.to_string())
}

impl LocalRuntime {
    pub fn new(cfg: LocalRuntimeConfig) -> std::result::Result<Self, String> {
        for (v, dir) in &cfg.versions {
            for tool in ["initdb", "pg_ctl", "postgres"] {
                if !dir.join(tool).is_file() {
                    return Err(format!(
                        "PostgreSQL {v}: {} not found; install PostgreSQL {v} (Debian: apt-get install postgresql-{v}) or set its bin_dir in the agent configuration",
                        dir.join(tool).display()
                    ));
                }
            }
        }
        // A unix socket path is limited to 107 bytes:
        // <data-dir>/s/<16 hex>/.s.PGSQL.NNNNN must fit.
        let longest = cfg.data_dir.as_os_str().len() + "/s/".len() + 16 + "/.s.PGSQL.65535".len();
        if longest > 107 {
            return Err(format!(
                "the data directory path {} is too long for PostgreSQL's unix sockets (at most {} bytes); choose a shorter --data-dir",
                cfg.data_dir.display(),
                107 - (longest - cfg.data_dir.as_os_str().len())
            ));
        }
        Ok(LocalRuntime {
            cfg,
            template_lock: tokio::sync::Mutex::new(()),
            spare_lock: Default::default(),
        })
    }

    fn bin(&self, version: &str, tool: &str) -> Result<PathBuf> {
        self.cfg
            .versions
            .get(version)
            .map(|d| d.join(tool))
            .ok_or_else(|| {
                err(format!(
                    "PostgreSQL {version} is not configured on this agent"
                ))
            })
    }

    fn pgdata(spec: &EngineSpec) -> PathBuf {
        spec.volume.mount_path.join("pgdata")
    }

    fn socket_dir(&self, spec: &EngineSpec) -> PathBuf {
        self.cfg
            .data_dir
            .join("s")
            .join(format!("{:016x}", crate::fnv1a(&spec.instance)))
    }

    fn template_dir(&self, version: &str) -> PathBuf {
        self.cfg
            .data_dir
            .join("templates")
            .join(format!("{ENGINE}-{version}"))
    }

    fn spare_dir(&self, version: &str) -> PathBuf {
        self.cfg
            .data_dir
            .join("templates")
            .join(format!("{ENGINE}-{version}.spare"))
    }

    /// Makes the spare data directory of `version` unless there is one.
    async fn refill_spare(
        lock: std::sync::Arc<tokio::sync::Mutex<()>>,
        template: PathBuf,
        spare: PathBuf,
    ) -> Result<()> {
        let _guard = lock.lock().await;
        if spare.join("PG_VERSION").is_file() {
            return Ok(());
        }
        let tmp = spare.with_extension(format!("spare.tmp.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        copy_dir(&template, &tmp).await?;
        if std::fs::rename(&tmp, &spare).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Ok(())
    }

    /// Refills the spare of `version` in the background.
    fn spawn_refill(&self, version: &str) {
        let (lock, template, spare) = (
            self.spare_lock.clone(),
            self.template_dir(version),
            self.spare_dir(version),
        );
        tokio::spawn(async move {
            if let Err(e) = Self::refill_spare(lock, template, spare).await {
                tracing::warn!(error = %e, "making a spare data directory failed");
            }
        });
    }

    /// Runs a PostgreSQL tool, as the engine user when one is configured.
    async fn run(&self, program: &Path, args: &[&str]) -> Result<String> {
        let mut cmd = match &self.cfg.run_as {
            Some(user) if nix::unistd::geteuid().is_root() => {
                let mut c = tokio::process::Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(program);
                c
            }
            _ => tokio::process::Command::new(program),
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a server started by pg_ctl must
            // survive the agent and signals sent to the agent's terminal.
            .process_group(0)
            .kill_on_drop(false);
        let out = cmd
            .output()
            .await
            .map_err(|e| err(format!("running {}: {e}", program.display())))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            Err(err(format!(
                "{} {} failed ({}): {}",
                program.file_name().unwrap_or_default().to_string_lossy(),
                args.first().copied().unwrap_or(""),
                out.status,
                last_lines(&format!("{stdout}\n{stderr}"), 5)
            )))
        }
    }

    /// Gives `path` to the engine user.
    fn chown(&self, path: &Path) -> Result<()> {
        if let Some(user) = &self.cfg.run_as {
            if nix::unistd::geteuid().is_root() {
                let u = nix::unistd::User::from_name(user)
                    .map_err(err)?
                    .ok_or_else(|| err(format!("the engine user {user:?} does not exist; create it or set local.run_as")))?;
                nix::unistd::chown(path, Some(u.uid), Some(u.gid))
                    .map_err(|e| err(format!("chown {}: {e}", path.display())))?;
            }
        }
        Ok(())
    }

    /// Makes the template data directory of `version` unless it exists.
    pub async fn ensure_template(&self, version: &str) -> Result<PathBuf> {
        let _guard = self.template_lock.lock().await;
        let dir = self.template_dir(version);
        if dir.join("PG_VERSION").is_file() {
            return Ok(dir);
        }
        let initdb = self.bin(version, "initdb")?;
        let parent = dir.parent().expect("template dir has a parent");
        std::fs::create_dir_all(parent)
            .map_err(|e| err(format!("creating {}: {e}", parent.display())))?;
        // A temporary directory of this agent process alone: an initdb left
        // running by an agent that was killed may still write into its own.
        // Those of dead agents are removed.
        let prefix = format!("{ENGINE}-{version}.tmp.");
        if let Ok(rd) = std::fs::read_dir(parent) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name
                    .strip_prefix(&prefix)
                    .and_then(|p| p.parse::<i32>().ok())
                {
                    if pid != std::process::id() as i32 && !Self::is_alive(pid) {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let tmp = parent.join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)
            .map_err(|e| err(format!("creating {}: {e}", tmp.display())))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        self.chown(&tmp)?;
        let tmp_s = tmp.to_string_lossy().into_owned();
        self.run(
            &initdb,
            &[
                "-D",
                &tmp_s,
                "-U",
                dbaas_postgres::SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-instructions",
            ],
        )
        .await?;
        std::fs::write(tmp.join("pg_hba.conf"), dbaas_postgres::HBA_CONF).map_err(err)?;
        let conf = tmp.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(err)?;
        text.push_str("\ninclude_if_exists = 'dbaas.conf'\n");
        std::fs::write(&conf, text).map_err(err)?;
        if let Err(e) = std::fs::rename(&tmp, &dir) {
            // Another agent process finished its template first.
            let _ = std::fs::remove_dir_all(&tmp);
            if !dir.join("PG_VERSION").is_file() {
                return Err(err(format!("renaming template into place: {e}")));
            }
        }
        Ok(dir)
    }

    /// Waits until the server accepts connections: PostgreSQL writes
    /// "ready" into postmaster.pid at that moment. Polled every 10 ms
    /// (pg_ctl -w looks only every 100 ms). A postmaster.pid left by a
    /// server that died names a dead process and does not count.
    async fn wait_ready(&self, spec: &EngineSpec, log: &str, log_start: u64) -> Result<()> {
        let pgdata = Self::pgdata(spec);
        let mut polls = 0u32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut seen_alive = false;
        loop {
            let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let pid = lines.first().and_then(|l| l.trim().parse::<i32>().ok());
            let alive = pid.is_some_and(Self::is_alive);
            if alive && lines.get(7).map(|l| l.trim()) == Some("ready") {
                return Ok(());
            }
            seen_alive |= alive;
            polls += 1;
            // A server that fails before writing its pid file (its port is
            // taken, say) only says so in its log.
            if polls.is_multiple_of(20) {
                if let Some(fatal) = new_fatal_line(log, log_start) {
                    return Err(err(format!(
                        "the PostgreSQL server of {} failed to start: {fatal} (log: {log})",
                        spec.instance
                    )));
                }
            }
            if seen_alive && !alive {
                let why = new_fatal_line(log, log_start)
                    .unwrap_or_else(|| "it exited while starting".to_string());
                return Err(err(format!(
                    "the PostgreSQL server of {} failed to start: {why} (log: {log})",
                    spec.instance
                )));
            }
            if std::time::Instant::now() > deadline {
                return Err(err(format!(
                    "the PostgreSQL server of {} did not accept connections within 60 s; see its log {log}",
                    spec.instance
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    fn read_pid(pgdata: &Path) -> Option<i32> {
        let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// A process that exists and is not a zombie. A postmaster that died
    /// after its parent (pg_ctl) exited is reparented to PID 1, which may
    /// not reap it: such a zombie is dead even though kill(pid, 0) succeeds.
    fn is_alive(pid: i32) -> bool {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name, which is in parentheses.
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X"),
            Err(_) => true,
        }
    }
}

/// `cp -a`: keeps the engine user's ownership and the 0700 mode that
/// PostgreSQL insists on.
async fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let mut cmd = tokio::process::Command::new("cp");
    dbaas_drivers::die_with_agent(&mut cmd);
    let out = cmd
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .await
        .map_err(|e| err(format!("copying {}: {e}", from.display())))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(to);
        return Err(err(format!(
            "copying {} failed: {}",
            from.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// What the server said about failing to start, in the part of `log`
/// past byte `from`: its FATAL or PANIC line, preceded by the "could not"
/// lines that explain it (e.g. the address already in use), without
/// timestamps. None until a FATAL or PANIC line is there.
fn new_fatal_line(log: &str, from: u64) -> Option<String> {
    let bytes = std::fs::read(log).ok()?;
    let tail = String::from_utf8_lossy(bytes.get(from as usize..)?).into_owned();
    let fatal = tail
        .lines()
        .any(|l| l.contains("FATAL:") || l.contains("PANIC:"));
    if !fatal {
        return None;
    }
    let said: Vec<String> = tail
        .lines()
        .filter(|l| l.contains("FATAL:") || l.contains("PANIC:") || l.contains("could not"))
        .map(|l| {
            ["FATAL:", "PANIC:", "LOG:", "HINT:"]
                .iter()
                .find_map(|tag| l.split_once(tag).map(|(_, rest)| rest.trim().to_string()))
                .unwrap_or_else(|| l.trim().to_string())
        })
        .collect();
    Some(said[said.len().saturating_sub(4)..].join("; "))
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[async_trait]
impl EngineRuntime for LocalRuntime {
    fn versions(&self, engine: &str) -> Vec<String> {
        if engine == ENGINE {
            self.cfg.versions.keys().cloned().collect()
        } else {
            vec![]
        }
    }

    async fn prepare(&self) -> Result<()> {
        for v in self.cfg.versions.keys() {
            let template = self.ensure_template(v).await?;
            Self::refill_spare(self.spare_lock.clone(), template, self.spare_dir(v)).await?;
        }
        Ok(())
    }

    async fn ensure_initialized(&self, spec: &EngineSpec) -> Result<()> {
        let pgdata = Self::pgdata(spec);
        let sockets = self.socket_dir(spec);
        std::fs::create_dir_all(&sockets)
            .map_err(|e| err(format!("creating {}: {e}", sockets.display())))?;
        std::fs::set_permissions(&sockets, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        self.chown(&sockets)?;
        // A volume of another driver (a Cinder volume) is mounted here on
        // a cluster's hosts; on this one machine a directory stands in.
        std::fs::create_dir_all(&spec.volume.mount_path).map_err(|e| {
            err(format!(
                "creating {}: {e}",
                spec.volume.mount_path.display()
            ))
        })?;
        // The engine user writes its log (and copies) in the volume, whether
        // the data came from the template or from a backup.
        self.chown(&spec.volume.mount_path)?;
        if !pgdata.join("PG_VERSION").is_file() {
            let template = self.ensure_template(&spec.version).await?;
            // Copies left half-done by an earlier agent process (whose cp
            // may even still run) are removed; this process copies into a
            // directory of its own, then renames it into place.
            if let Ok(rd) = std::fs::read_dir(&spec.volume.mount_path) {
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with("pgdata.tmp.") {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
            self.chown(&spec.volume.mount_path)?;
            // Claiming the spare is one atomic rename; without one (taken
            // by a concurrent create, or another filesystem) copy the
            // template.
            let spare = self.spare_dir(&spec.version);
            if std::fs::rename(&spare, &pgdata).is_err() {
                let tmp = spec
                    .volume
                    .mount_path
                    .join(format!("pgdata.tmp.{}", std::process::id()));
                copy_dir(&template, &tmp).await?;
                std::fs::rename(&tmp, &pgdata)
                    .map_err(|e| err(format!("moving the data directory into place: {e}")))?;
            }
            self.spawn_refill(&spec.version);
        }
        let archive = match (self.cfg.archive_timeout_seconds, self.wal_spool(spec)) {
            (Some(timeout_seconds), Some(spool)) => {
                std::fs::create_dir_all(&spool)
                    .map_err(|e| err(format!("creating {}: {e}", spool.display())))?;
                self.chown(&spool)?;
                Some(dbaas_postgres::ArchiveConf {
                    spool_dir: spool.to_string_lossy().into_owned(),
                    timeout_seconds,
                })
            }
            _ => None,
        };
        // Written on every run: the endpoint or socket may have changed.
        let conf = dbaas_postgres::server_conf(
            &spec.endpoint.host,
            spec.endpoint.port,
            &sockets.to_string_lossy(),
            archive.as_ref(),
        );
        let conf_path = pgdata.join("dbaas.conf");
        std::fs::write(&conf_path, conf)
            .map_err(|e| err(format!("writing {}: {e}", conf_path.display())))?;
        self.chown(&conf_path)?;
        Ok(())
    }

    async fn ensure_running(&self, spec: &EngineSpec) -> Result<()> {
        match self.status(spec).await? {
            EngineStatus::Running => return Ok(()),
            EngineStatus::Absent => {
                return Err(err(format!(
                    "the data directory of {} is missing; the engine cannot start",
                    spec.instance
                )))
            }
            EngineStatus::Stopped => {}
        }
        let pg_ctl = self.bin(&spec.version, "pg_ctl")?;
        let pgdata = Self::pgdata(spec).to_string_lossy().into_owned();
        let log = spec
            .volume
            .mount_path
            .join("postgres.log")
            .to_string_lossy()
            .into_owned();
        // The server's shell opens the log: if the engine user cannot, the
        // server never starts and pg_ctl -W says nothing. Make sure it can.
        if !Path::new(&log).exists() {
            std::fs::write(&log, b"").map_err(|e| err(format!("creating {log}: {e}")))?;
        }
        self.chown(Path::new(&log))?;
        let log_len = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        self.run(&pg_ctl, &["start", "-D", &pgdata, "-l", &log, "-W", "-s"])
            .await
            .map_err(|e| err(format!("{e} (server log: {log})")))?;
        self.wait_ready(spec, &log, log_len).await
    }

    async fn stop(&self, spec: &EngineSpec) -> Result<()> {
        if self.status(spec).await? != EngineStatus::Running {
            return Ok(());
        }
        let pg_ctl = self.bin(&spec.version, "pg_ctl")?;
        let pgdata = Self::pgdata(spec).to_string_lossy().into_owned();
        if self
            .run(
                &pg_ctl,
                &["stop", "-D", &pgdata, "-m", "fast", "-w", "-t", "30", "-s"],
            )
            .await
            .is_err()
        {
            self.run(
                &pg_ctl,
                &[
                    "stop",
                    "-D",
                    &pgdata,
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                    "-s",
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn destroy(&self, spec: &EngineSpec) -> Result<()> {
        self.stop(spec).await?;
        // What the engine wrote in its volume goes, whatever the volume
        // driver (a Cinder volume's mount point outlives the volume here).
        let mount = &spec.volume.mount_path;
        let mut paths = vec![self.socket_dir(spec)];
        paths.extend(
            ["pgdata", "wal-spool", "wal-restore", "postgres.log"]
                .iter()
                .map(|p| mount.join(p)),
        );
        if let Ok(rd) = std::fs::read_dir(mount) {
            paths.extend(
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("pgdata.tmp."))
                    .map(|e| e.path()),
            );
        }
        for path in paths {
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(format!("removing {}: {e}", path.display()))),
            }
        }
        // A mount point left empty goes too; a local volume keeps its
        // metadata file, so its directory stays for the volume driver.
        let _ = std::fs::remove_dir(mount);
        Ok(())
    }

    async fn status(&self, spec: &EngineSpec) -> Result<EngineStatus> {
        let pgdata = Self::pgdata(spec);
        if !pgdata.join("PG_VERSION").is_file() {
            return Ok(EngineStatus::Absent);
        }
        Ok(match Self::read_pid(&pgdata) {
            Some(pid) if Self::is_alive(pid) => EngineStatus::Running,
            _ => EngineStatus::Stopped,
        })
    }

    fn wal_spool(&self, spec: &EngineSpec) -> Option<PathBuf> {
        self.cfg
            .archive_timeout_seconds
            .map(|_| spec.volume.mount_path.join("wal-spool"))
    }

    fn tools(&self, version: &str) -> Option<EngineTools> {
        Some(EngineTools {
            bin_dir: self.cfg.versions.get(version)?.clone(),
            run_as: self.cfg.run_as.clone(),
        })
    }

    async fn admin_access(&self, spec: &EngineSpec) -> Result<AdminAccess> {
        Ok(AdminAccess {
            host: self.socket_dir(spec).to_string_lossy().into_owned(),
            port: spec.endpoint.port,
            superuser: dbaas_postgres::SUPERUSER.to_string(),
            password: None,
        })
    }
}
