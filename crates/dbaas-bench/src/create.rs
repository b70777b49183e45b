//! Create -> accepting-connections latency: a database created through the
//! dbaas API, and its peer, a bare `initdb` + `pg_ctl start -w`. Both end
//! when a fresh connection answers `SELECT 1`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Utc};
use dbaas_client::Client;
use dbaas_model::{CreateDatabaseRequest, Operation, OperationState};

/// Upper bound of one operation (create or delete), of one PostgreSQL tool
/// and of the wait for `SELECT 1`.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_WITHIN: Duration = Duration::from_secs(30);

/// One create through dbaas.
pub struct DbaasSample {
    /// POST until `SELECT 1` answered.
    pub total: Duration,
    /// POST until `wait_operation` saw the operation succeed.
    pub observed: Duration,
    /// The operation's own duration, by the agent's clock (accepted to
    /// last update).
    pub server: Duration,
    /// Each step's duration, by the agent's clock, in order.
    pub steps: Vec<(String, Duration)>,
}

/// One bare initdb + pg_ctl start.
pub struct PeerSample {
    /// Start of initdb until `SELECT 1` answered.
    pub total: Duration,
    pub initdb: Duration,
    pub pg_ctl_start: Duration,
}

/// Creates `name` as a user would (POST, then `wait_operation`, then the
/// connection details) and times it until the owner's connection answers.
pub async fn dbaas_create(client: &Client, name: &str) -> anyhow::Result<DbaasSample> {
    let req = CreateDatabaseRequest {
        name: name.into(),
        engine: None,
        version: None,
        size_gb: Some(1),
    };
    let t0 = Instant::now();
    let accepted = client.create_database(&req).await?;
    let op = wait(client, &accepted.id).await?;
    let observed = t0.elapsed();
    ensure!(
        op.state == OperationState::Succeeded,
        "creating {name} ended {:?}: {}",
        op.state,
        op.error.unwrap_or_default()
    );
    let conn = client.connection(name).await?;
    let cfg: tokio_postgres::Config = conn.uri.parse().context("the connection URI")?;
    select1(cfg).await?;
    let total = t0.elapsed();
    Ok(DbaasSample {
        total,
        observed,
        server: span(Some(op.created_at), Some(op.updated_at)),
        steps: op
            .steps
            .iter()
            .map(|s| (s.name.clone(), span(s.started_at, s.finished_at)))
            .collect(),
    })
}

/// The time from `a` to `b`, zero when either is unknown.
fn span(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Duration {
    match (a, b) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// Deletes `name` and waits for the delete to succeed.
pub async fn dbaas_delete(client: &Client, name: &str) -> anyhow::Result<()> {
    let accepted = client.delete_database(name).await?;
    let op = wait(client, &accepted.id).await?;
    ensure!(
        op.state == OperationState::Succeeded,
        "deleting {name} ended {:?}: {}",
        op.state,
        op.error.unwrap_or_default()
    );
    Ok(())
}

/// The client's own polling (what `dbaas create` does), bounded in time.
async fn wait(client: &Client, id: &str) -> anyhow::Result<Operation> {
    tokio::time::timeout(OPERATION_TIMEOUT, client.wait_operation(id, |_| {}))
        .await
        .with_context(|| format!("operation {id} did not finish within {OPERATION_TIMEOUT:?}"))?
        .map_err(Into::into)
}

/// Connects with `cfg` and runs `SELECT 1`, retrying until it answers or
/// `CONNECT_WITHIN` has passed.
async fn select1(mut cfg: tokio_postgres::Config) -> anyhow::Result<()> {
    cfg.connect_timeout(Duration::from_secs(5));
    let deadline = Instant::now() + CONNECT_WITHIN;
    loop {
        match try_select1(&cfg).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context(format!("SELECT 1 did not answer within {CONNECT_WITHIN:?}")))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

async fn try_select1(cfg: &tokio_postgres::Config) -> anyhow::Result<()> {
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(conn);
    let messages = client.simple_query("SELECT 1").await?;
    let answered = messages.iter().any(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("1"),
        _ => false,
    });
    drop(client);
    let _ = driver.await;
    ensure!(answered, "SELECT 1 returned no row");
    Ok(())
}

/// PostgreSQL refuses to run as root: its tools then run as `postgres`.
fn as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs a PostgreSQL tool (through `runuser -u postgres --` as root).
async fn run_pg(program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = if as_root() {
        let mut c = tokio::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let name = program
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let out = tokio::time::timeout(TOOL_TIMEOUT, cmd.output())
        .await
        .with_context(|| format!("{name} did not finish within {TOOL_TIMEOUT:?}"))?
        .with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        let action = args
            .first()
            .filter(|a| !a.starts_with('-'))
            .copied()
            .unwrap_or_default();
        let output = format!(
            "{} {}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        bail!("{name} {action} failed ({}): {}", out.status, output.trim());
    }
    Ok(())
}

/// A scratch directory for the peer; dropping it kills a postmaster that
/// is still running in it, then removes it.
struct PeerDir {
    dir: tempfile::TempDir,
}

impl Drop for PeerDir {
    fn drop(&mut self) {
        kill_postmaster(&self.dir.path().join("data"));
    }
}

/// SIGKILLs the postmaster of `pgdata`, if its pid file names one.
pub fn kill_postmaster(pgdata: &Path) {
    let Ok(text) = std::fs::read_to_string(pgdata.join("postmaster.pid")) else {
        return;
    };
    if let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The peer: `initdb` of a fresh data directory, `pg_ctl start -w` on a
/// free port of 127.0.0.1 with its socket in the same /tmp directory,
/// then `SELECT 1`; stopped and removed afterwards.
pub async fn peer_once(bin_dir: &Path) -> anyhow::Result<PeerSample> {
    let scratch = PeerDir {
        dir: tempfile::Builder::new().prefix("pgb").tempdir_in("/tmp")?,
    };
    let dir = scratch.dir.path();
    if as_root() {
        let user = nix::unistd::User::from_name("postgres")?.context(
            "running as root needs the user postgres (Debian's postgresql packages create it)",
        )?;
        nix::unistd::chown(dir, Some(user.uid), Some(user.gid))?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let pgdata = dir.join("data").to_string_lossy().into_owned();
    let log = dir.join("log").to_string_lossy().into_owned();
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {}",
        dir.display()
    );
    let pg_ctl = bin_dir.join("pg_ctl");

    let t0 = Instant::now();
    run_pg(
        &bin_dir.join("initdb"),
        &[
            "-D",
            &pgdata,
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth=trust",
            "--no-instructions",
        ],
    )
    .await?;
    let t1 = Instant::now();
    run_pg(
        &pg_ctl,
        &[
            "start", "-D", &pgdata, "-l", &log, "-o", &options, "-w", "-t", "60", "-s",
        ],
    )
    .await?;
    let t2 = Instant::now();
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname("postgres");
    select1(cfg).await?;
    let total = t0.elapsed();

    run_pg(
        &pg_ctl,
        &["stop", "-D", &pgdata, "-m", "fast", "-w", "-t", "30", "-s"],
    )
    .await?;
    Ok(PeerSample {
        total,
        initdb: t1 - t0,
        pg_ctl_start: t2 - t1,
    })
}
