//! `dbaas agent`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use dbaas_config::AgentConfig;
use dbaas_control::ControlPlane;
use dbaas_saga::Failpoints;

#[derive(clap::Args)]
pub struct AgentArgs {
    /// Run on this machine alone with the local drivers, like `nomad agent -dev`.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
    /// The agent's HCL configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (state store, volumes, connection files); overrides the configuration.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address of the REST API, e.g. 127.0.0.1:4680 (port 0 picks a free port); overrides the configuration.
    #[arg(long)]
    listen: Option<String>,
    /// Where to write the API's URL once it listens (default DATA_DIR/agent.addr).
    #[arg(long)]
    address_file: Option<PathBuf>,
}

fn default_dev_dir() -> PathBuf {
    std::env::temp_dir().join("dbaas-dev")
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DBAAS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let mut cfg = match (&args.config, args.dev) {
        (Some(path), _) => AgentConfig::load(path).map_err(|e| anyhow!(e))?,
        (None, true) => AgentConfig::dev(args.data_dir.clone().unwrap_or_else(default_dev_dir)),
        (None, false) => {
            return Err(anyhow!(
                "give --dev to run on this machine alone, or --config FILE.hcl"
            ))
        }
    };
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    cfg.check().map_err(|e| anyhow!(e))?;
    dbaas_control::resolve_host_pair_stacks(&mut cfg)
        .await
        .map_err(|e| anyhow!(e))?;

    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&cfg.data_dir)?;
    cfg.data_dir = data_dir.clone();
    if nix::unistd::geteuid().is_root() {
        // Engines run as an unprivileged user, which must be able to reach
        // its volumes and sockets below the data directory (but not list it).
        let mode = std::fs::metadata(&data_dir)?.permissions().mode();
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(mode | 0o711))?;
    }

    let failpoints = match (&cfg.failpoints, std::env::var("DBAAS_FAILPOINTS")) {
        (_, Ok(env)) => Failpoints::parse(&env),
        (Some(c), Err(_)) => Failpoints::parse(c),
        (None, Err(_)) => Ok(Failpoints::none()),
    }
    .map_err(|e| anyhow!(e))?;

    // The API's address first: with a consul block it is what the other
    // agents name for this one when it leads.
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // The state: the redb file in the data directory (opened once, shared
    // by the control plane and the local address pool), or Consul with
    // leader election.
    let state = dbaas_control::state::open(&cfg, &addr.to_string()).map_err(|e| anyhow!(e))?;
    let services = dbaas_control::build(&cfg, state.store.clone()).map_err(|e| anyhow!(e))?;
    let runtime = services.drivers.runtime.clone();
    let cp = ControlPlane::with_role(services, failpoints, state.role.clone());

    // Unfinished operations resume at once (or when this agent becomes
    // the leader). Templates are prepared beside them: the runtime
    // serialises template preparation, so a create that needs one waits
    // for it instead of racing it.
    cp.start().await.map_err(|e| anyhow!(e))?;
    tokio::spawn(async move {
        if let Err(e) = runtime.prepare().await {
            tracing::warn!(error = %e, "preparing engine templates failed; creates will retry");
        }
    });

    let url = format!("http://{addr}");
    // Tests and scripts that start the agent on port 0 read the address here.
    // Written whole or not at all: a reader never sees half an address.
    let addr_file = args
        .address_file
        .clone()
        .unwrap_or_else(|| data_dir.join("agent.addr"));
    let mut tmp = addr_file.clone().into_os_string();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("{url}\n"))?;
    std::fs::rename(&tmp, &addr_file)?;
    tracing::info!(address = %url, data_dir = %data_dir.display(), "dbaas agent listening");
    eprintln!(
        "dbaas agent listening on {url} (data in {})",
        data_dir.display()
    );

    axum::serve(listener, dbaas_api::router(cp))
        .with_graceful_shutdown(shutdown())
        .await?;
    if let Some(election) = state.election {
        // Another agent may take over at once (a release has no lock-delay).
        election.resign().await;
    }
    tracing::info!("dbaas agent stopped; engines keep running and are adopted at the next start");
    Ok(())
}

async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
