//! `dbaas render`: prints, offline, what creating a database would submit
//! (Nomad jobs, the Pacemaker group, the OpenStack requests).

use std::path::PathBuf;

use dbaas_control::render::{render, RenderRequest};

use crate::Format;

#[derive(clap::Args)]
pub struct RenderArgs {
    /// The database's name.
    name: String,
    /// The agent's HCL configuration file (nothing is contacted).
    #[arg(long)]
    config: PathBuf,
    /// Size of the database's volume, in GB.
    #[arg(long, default_value_t = 10)]
    size_gb: u32,
    /// Engine version (the configuration's default otherwise).
    #[arg(long)]
    version: Option<String>,
    /// Host pair (the one placement would choose otherwise).
    #[arg(long)]
    pair: Option<String>,
    /// `table`: the jobs as HCL, the group as XML, the requests as JSON;
    /// `json`: one JSON document, the jobs in Nomad's JSON form.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Format,
}

pub fn run(a: RenderArgs) -> anyhow::Result<()> {
    let cfg = dbaas_config::AgentConfig::load(&a.config).map_err(anyhow::Error::msg)?;
    let r = render(
        &cfg,
        &RenderRequest {
            name: a.name,
            size_gb: a.size_gb,
            version: a.version,
            pair: a.pair,
        },
    )
    .map_err(anyhow::Error::msg)?;
    if a.output == Format::Json {
        crate::output::json(&r);
        return Ok(());
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    println!(
        "# dbaas render {} (instance {}, host pair {})",
        r.database, r.instance, r.pair
    );
    for p in &r.placeholders {
        println!("#   placeholder: {p}");
    }
    for (what, job) in [
        ("engine service job", &r.engine_job),
        ("admin SQL job (parameterized)", &r.admin_sql_job),
        ("configuration job", &r.configure_job),
    ] {
        println!("\n# ---- Nomad: {what}\n{}", job.hcl.trim_end());
    }
    println!(
        "\n# ---- Pacemaker: CIB fragment\n{}",
        r.pacemaker_fragment.trim_end()
    );
    println!(
        "\n# ---- Cinder: POST /volumes\n{}",
        pretty(&r.volume_request)
    );
    println!(
        "\n# ---- Neutron: floating IP\n{}",
        pretty(&r.floating_ip_request)
    );
    Ok(())
}
