//! `dbaas-bench`: how dbaas compares with the simplest thing that could
//! replace it, measured in the same run on the same machine.
//!
//! Absolute figures depend on the machine; a ratio against a peer measured
//! alongside does much less, so each figure is printed as one.
//!
//! Two benchmarks: the service (the default, also `dbaas-bench service`),
//! below, and backups (`dbaas-bench backup`, see the `backup` module):
//! dbaas's base-backup pipeline and restore into a real Swift against
//! pgBackRest on the same Swift (through s3api) and against the machine's
//! limit (`pg_basebackup | zstd -1 -T2 > /dev/null`), in MB/s of the
//! database.
//!
//! The service benchmark:
//!
//! 1. **Create latency.** From `POST /v1/databases` (through
//!    `dbaas_client`, waiting with `Client::wait_operation` as `dbaas create`
//!    does) until a new connection with the credentials of
//!    `GET /v1/databases/NAME/connection` answers `SELECT 1`; median over
//!    `--iterations` creates, each deleted afterwards. The peer is what an
//!    operator would do by hand: `initdb` of a fresh data directory and
//!    `pg_ctl start -w`, until `SELECT 1` answers (as user postgres through
//!    `runuser` when run as root). The aim is a ratio of at most 1: the
//!    control plane (volume, address, template copy, roles, catalog) should
//!    cost no more than a bare initdb.
//! 2. **GET throughput.** `GET /v1/databases/NAME` of one ACTIVE database,
//!    from a fixed number of concurrent clients for a fixed time; the peer is
//!    a hello-world axum server under the same load. The aim is at least
//!    half of the hello-world rate: a read of the catalog should cost about
//!    as much as the HTTP around it.
//!
//! The agent is the release binary (`target/release/dbaas`, built offline
//! by the bench if needed, or `DBAAS_BIN`), started like the end-to-end
//! tests start it: its own data directory under /tmp, port 0, a loopback
//! address pool of its own. Everything is stopped and removed at the end.
//!
//! ```text
//! cargo run --release -p dbaas-bench [-- [service] --iterations N]
//! cargo run --release -p dbaas-bench -- backup [--scale 50] [--runs 3]
//! ```

mod agent;
mod backup;
mod create;
mod fixtures;
mod load;
mod wal_lag;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context};
use clap::{Parser, Subcommand};
use dbaas_model::DatabaseState;

#[derive(Parser)]
#[command(
    about = "Benchmarks dbaas against named peers measured in the same run",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: the service benchmark.
    #[command(flatten)]
    service: ServiceArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Create latency and GET throughput of the agent (the default).
    Service(ServiceArgs),
    /// Backup and restore throughput of dbaas's pipeline into a real Swift,
    /// against pgBackRest and the machine's limit.
    Backup(backup::BackupArgs),
}

#[derive(clap::Args)]
struct ServiceArgs {
    /// Creates (and bare initdb + pg_ctl starts) to take the median of.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    iterations: u32,
    /// Concurrent clients of the GET load.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// Seconds each server is measured under GET load (after 1 s of warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    seconds: u64,
    /// The dbaas binary; by default target/release/dbaas of this workspace.
    #[arg(long, env = "DBAAS_BIN")]
    dbaas_bin: Option<PathBuf>,
    /// Directory of the PostgreSQL programs of the peer.
    #[arg(long, default_value = "/usr/lib/postgresql/15/bin")]
    pg_bin_dir: PathBuf,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median of a non-empty list (mean of the middle two for an even count).
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    dbaas_client::install_crypto_provider();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Backup(b)) => return backup::main(b).await,
        Some(Command::Service(s)) => s,
        None => cli.service,
    };
    for tool in ["initdb", "pg_ctl"] {
        let path = args.pg_bin_dir.join(tool);
        ensure!(
            path.is_file(),
            "{}: not found (set --pg-bin-dir)",
            path.display()
        );
    }
    let bin = agent::locate_binary(args.dbaas_bin.clone())?;
    let agent = agent::Agent::start(&bin)?;
    println!("dbaas agent {} at {}", bin.display(), agent.address);
    let result = bench(&args, &agent).await;
    if result.is_err() {
        eprintln!("agent log (last lines):\n{}", agent.log_tail());
    }
    drop(agent);
    result
}

async fn bench(args: &ServiceArgs, agent: &agent::Agent) -> anyhow::Result<()> {
    let client = &agent.client;
    let n = args.iterations as usize;

    // Warm-ups, not counted: the agent makes its engine template once, at
    // start (the first create waits for it), and the first initdb of a run
    // reads the PostgreSQL installation from a cold cache.
    let t = std::time::Instant::now();
    create::dbaas_create(client, "bench-warmup")
        .await
        .context("warm-up create")?;
    create::dbaas_delete(client, "bench-warmup").await?;
    println!(
        "warm-up: first dbaas create (template included) and delete {:.0} ms",
        ms(t.elapsed())
    );
    create::peer_once(&args.pg_bin_dir)
        .await
        .context("warm-up initdb + pg_ctl")?;

    // Interleaved, so that drift in the machine's load hits both alike.
    let (mut dbaas, mut peer) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let name = format!("bench-{i}");
        let d = create::dbaas_create(client, &name)
            .await
            .with_context(|| format!("creating {name}"))?;
        create::dbaas_delete(client, &name).await?;
        let p = create::peer_once(&args.pg_bin_dir).await?;
        let steps: Vec<String> = d
            .steps
            .iter()
            .map(|(s, t)| format!("{s} {:.0}", ms(*t)))
            .collect();
        println!(
            "  #{i}: dbaas {:.1} ms (operation {:.1} by the agent, seen done at {:.1}; steps ms: {}) | initdb {:.1} + pg_ctl start {:.1} = {:.1} ms",
            ms(d.total),
            ms(d.server),
            ms(d.observed),
            steps.join(", "),
            ms(p.initdb),
            ms(p.pg_ctl_start),
            ms(p.total)
        );
        dbaas.push(d);
        peer.push(p);
    }
    let x = median(dbaas.iter().map(|d| d.total).collect());
    let y = median(peer.iter().map(|p| p.total).collect());
    println!(
        "  medians: dbaas operation {:.1} ms, seen done at {:.1} ms (client polling lag {:.1} ms); initdb {:.1} ms, pg_ctl start {:.1} ms",
        ms(median(dbaas.iter().map(|d| d.server).collect())),
        ms(median(dbaas.iter().map(|d| d.observed).collect())),
        ms(median(dbaas.iter().map(|d| d.observed.saturating_sub(d.server)).collect())),
        ms(median(peer.iter().map(|p| p.initdb).collect())),
        ms(median(peer.iter().map(|p| p.pg_ctl_start).collect())),
    );
    let create_line = format!(
        "create latency: dbaas {:.1} ms, initdb+pg_ctl {:.1} ms, ratio X/Y = {:.2} (aim <= 1.0)",
        ms(x),
        ms(y),
        x.as_secs_f64() / y.as_secs_f64()
    );

    // GET throughput against one ACTIVE database, then the hello-world peer.
    let name = "bench-rps";
    create::dbaas_create(client, name)
        .await
        .context("creating the database read under load")?;
    let db = client.get_database(name).await?;
    ensure!(
        db.state == DatabaseState::Active,
        "{name} is {:?}, not ACTIVE",
        db.state
    );
    let load = load::Load {
        concurrency: args.concurrency as usize,
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(args.seconds),
        max_requests: 50_000_000,
    };
    let url = format!("{}/v1/databases/{name}", agent.address);
    let a = load::run(&url, load).await?;
    let hello = load::HelloServer::start()?;
    let b = load::run(&hello.url, load).await?;
    drop(hello);
    create::dbaas_delete(client, name).await?;
    for (who, r) in [("dbaas", &a), ("hello-world axum", &b)] {
        println!(
            "  {who}: {} answers, {} errors in {} s with {} clients",
            r.ok, r.errors, args.seconds, args.concurrency
        );
        ensure!(r.ok > 0, "{who} answered no request");
    }
    println!("{create_line}");
    println!(
        "GET rps: dbaas {:.0}, hello-world axum {:.0}, ratio A/B = {:.2} (aim >= 0.5)",
        a.rps,
        b.rps,
        a.rps / b.rps
    );
    Ok(())
}
