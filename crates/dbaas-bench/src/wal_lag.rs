//! WAL archive lag under load: a database of a real dbaas agent (release
//! binary, backups and WAL in the benchmark's Swift, default archiving
//! settings), loaded with `pgbench -c CLIENTS -T SECONDS` as its owner
//! over TCP, while the lag the API reports (`GET /v1/databases/NAME`,
//! `wal_archive`: finished WAL files not yet in the store, and the age of
//! the oldest) is sampled every second. Then the time until the archive
//! has caught up once the load stops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

use crate::agent::Agent;
use crate::fixtures::Swift;

/// What the load and the sampling saw.
pub struct WalLag {
    pub clients: u32,
    pub seconds: u64,
    pub scale: u32,
    pub tps: f64,
    /// WAL written during the load, bytes.
    pub wal_bytes: u64,
    pub segment_size: u64,
    /// Per second of load: (pending files, oldest pending seconds).
    pub samples: Vec<(usize, u64)>,
    /// Per second of load: bytes of WAL written past the end of the last
    /// archived file (the unfinished segment included).
    pub behind: Vec<u64>,
    /// From the end of the load until nothing was pending.
    pub drain: Option<Duration>,
    /// Errors the archiver reported during the load, if any.
    pub errors: Vec<String>,
}

pub struct Load<'a> {
    pub bin: &'a Path,
    pub pg_bin_dir: &'a Path,
    pub swift: &'a Swift,
    pub container: &'a str,
    pub clients: u32,
    pub seconds: u64,
    pub scale: u32,
}

const NAME: &str = "wal-lag";

pub async fn measure(load: Load<'_>) -> anyhow::Result<WalLag> {
    let hcl = format!(
        "backup {{\n  store = \"swift\"\n  swift {{\n    auth_url = \"{}\"\n    user = \"{}\"\n    key = \"{}\"\n    container = \"{}\"\n  }}\n}}\n",
        load.swift.auth_url, load.swift.user, load.swift.key, load.container
    );
    let agent = Agent::start_with(load.bin, &hcl)?;
    let result = run(&agent, &load).await;
    if result.is_err() {
        eprintln!("agent log (last lines):\n{}", agent.log_tail());
    }
    result
}

async fn run(agent: &Agent, load: &Load<'_>) -> anyhow::Result<WalLag> {
    let client = &agent.client;
    crate::create::dbaas_create(client, NAME)
        .await
        .context("creating the database")?;
    let conn = client.connection(NAME).await?;
    let pgbench = |args: &[String]| {
        let mut c = tokio::process::Command::new(load.pg_bin_dir.join("pgbench"));
        c.args(args)
            .args(["-h", &conn.host, "-p", &conn.port.to_string(), "-U"])
            .arg(&conn.user)
            .arg(&conn.database)
            .env("PGPASSWORD", &conn.password)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    };
    let out = pgbench(&[
        "-i".into(),
        "-q".into(),
        "-s".into(),
        load.scale.to_string(),
    ])
    .output()
    .await
    .context("pgbench -i")?;
    ensure!(
        out.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    // The load starts with the archive caught up.
    wait_drained(agent, Duration::from_secs(300))
        .await
        .context("the WAL of pgbench -i was not archived")?;

    let cfg: tokio_postgres::Config = conn.uri.parse()?;
    let (db, c) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(c);
    let segment_size: i64 = db
        .query_one(
            "SELECT setting::int8 * CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 ELSE 1 END FROM pg_settings WHERE name = 'wal_segment_size'",
            &[],
        )
        .await?
        .get(0);
    let lsn = || async {
        let r: anyhow::Result<String> = Ok(db
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await?
            .get(0));
        r
    };
    let start_lsn = lsn().await?;

    let child = pgbench(&[
        "-c".into(),
        load.clients.to_string(),
        "-j".into(),
        load.clients.min(2).to_string(),
        "-T".into(),
        load.seconds.to_string(),
        "-n".into(),
    ])
    .spawn()
    .context("starting pgbench")?;
    let done = child.wait_with_output();
    tokio::pin!(done);
    let mut samples = Vec::new();
    let mut errors = Vec::new();
    let mut behind = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let out = loop {
        tokio::select! {
            out = &mut done => break out?,
            _ = tick.tick() => {
                let d = client.get_database(NAME).await?;
                let a = d.wal_archive.unwrap_or_default();
                if let Some(e) = a.last_error {
                    errors.push(e);
                }
                samples.push((a.pending_files, a.oldest_pending_seconds.unwrap_or(0)));
                if let Some(end) = a.last_archived.as_deref().and_then(|f| segment_end(f, segment_size as u64)) {
                    let now = parse_lsn(&lsn().await?).unwrap_or(end);
                    behind.push(now.saturating_sub(end));
                }
            }
        }
    };
    let stopped = Instant::now();
    ensure!(
        out.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let end_lsn = lsn().await?;
    let wal_bytes: i64 = db
        .query_one(
            "SELECT pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)::int8",
            &[&end_lsn, &start_lsn],
        )
        .await?
        .get(0);
    drop(db);
    // pgbench -T ends its last transactions after the time is up; the
    // switch to a new segment makes the last one finished.
    let drain = wait_drained(agent, Duration::from_secs(300))
        .await
        .ok()
        .map(|_| stopped.elapsed());
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    crate::create::dbaas_delete(client, NAME).await?;
    Ok(WalLag {
        clients: load.clients,
        seconds: load.seconds,
        scale: load.scale,
        tps,
        wal_bytes: wal_bytes.max(0) as u64,
        segment_size: segment_size as u64,
        samples,
        behind,
        drain,
        errors,
    })
}

/// Waits until the API reports no pending WAL file.
async fn wait_drained(agent: &Agent, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let d = agent.client.get_database(NAME).await?;
        if d.wal_archive.as_ref().is_some_and(|a| a.pending_files == 0) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "WAL still pending after {within:?}: {:?}",
            d.wal_archive
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl WalLag {
    pub fn lines(&self) -> Vec<String> {
        let mut files: Vec<usize> = self.samples.iter().map(|s| s.0).collect();
        let mut ages: Vec<u64> = self.samples.iter().map(|s| s.1).collect();
        files.sort_unstable();
        ages.sort_unstable();
        let med = |v: &[u64]| v.get(v.len() / 2).copied().unwrap_or(0);
        let files_u: Vec<u64> = files.iter().map(|f| *f as u64).collect();
        let (fmax, fmed) = (files_u.last().copied().unwrap_or(0), med(&files_u));
        let (amax, amed) = (ages.last().copied().unwrap_or(0), med(&ages));
        let mib = |n: u64| (n * self.segment_size) as f64 / 1048576.0;
        let mut out = vec![format!(
            "WAL archive lag under pgbench -c {} -T {} (scale {}, {:.0} tps, {:.0} MB of WAL = {:.2} segments of {} MiB per second; {} samples of GET /v1/databases/NAME, one a second): pending segments max {fmax} ({:.0} MiB), median {fmed} ({:.0} MiB); oldest pending max {amax} s, median {amed} s; all archived {} after the load stopped",
            self.clients,
            self.seconds,
            self.scale,
            self.tps,
            self.wal_bytes as f64 / 1e6,
            self.wal_bytes as f64 / self.segment_size.max(1) as f64 / self.seconds as f64,
            self.segment_size / 1048576,
            self.samples.len(),
            mib(fmax),
            mib(fmed),
            match self.drain {
                Some(d) => format!("{:.1} s", d.as_secs_f64()),
                None => "not within 300 s".into(),
            }
        )];
        let mut behind = self.behind.clone();
        behind.sort_unstable();
        if !behind.is_empty() {
            out.push(format!(
                "WAL written but not yet in the store (position minus the end of the last archived file, the unfinished segment included; {} samples): max {:.1} MB, median {:.1} MB",
                behind.len(),
                *behind.last().unwrap() as f64 / 1e6,
                med(&behind) as f64 / 1e6
            ));
        }
        if !self.errors.is_empty() {
            out.push(format!(
                "  archiver errors during the load ({}), last: {}",
                self.errors.len(),
                self.errors.last().unwrap()
            ));
        }
        out
    }
}

/// The default agent binary of this workspace (built when needed).
pub fn agent_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    crate::agent::locate_binary(given)
}

/// "X/Y" (hex) as a 64-bit WAL position.
fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// The WAL position just past the file `name` (TTTTTTTTXXXXXXXXYYYYYYYY).
fn segment_end(name: &str, segment_size: u64) -> Option<u64> {
    if name.len() != 24 || segment_size == 0 {
        return None;
    }
    let log = u64::from_str_radix(&name[8..16], 16).ok()?;
    let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
    let per_log = 0x1_0000_0000 / segment_size;
    Some((log * per_log + seg + 1) * segment_size)
}

#[cfg(test)]
mod tests {
    #[test]
    fn wal_file_names_give_their_end() {
        let mib16 = 16 * 1024 * 1024;
        assert_eq!(
            super::segment_end("000000010000000000000001", mib16),
            Some(2 * mib16)
        );
        assert_eq!(
            super::segment_end("000000010000000100000000", mib16),
            Some(0x1_0000_0000 + mib16)
        );
        assert_eq!(super::parse_lsn("1/2A"), Some(0x1_0000_002A));
    }
}
