//! The `dbaas` command line: `dbaas agent` runs the control plane; every
//! other command is a client of its REST API (address from `--address` or
//! `DBAAS_ADDR`).
//!
//! Output is a table for people, or JSON with `-o json` for scripts (the
//! API's own field names). Exit status 0 means success; otherwise a
//! one-line reason is printed on stderr.

mod agent;
mod commands;
mod output;
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "dbaas",
    version,
    about = "Databases as a service on OpenStack, Nomad and Pacemaker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(clap::Args, Clone)]
pub struct ClientArgs {
    /// Address of the dbaas agent.
    #[arg(long, env = "DBAAS_ADDR", default_value = dbaas_client::DEFAULT_ADDRESS, global = true)]
    address: String,
    /// Output format: a table for people, JSON for scripts.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value = "table",
        global = true
    )]
    output: Format,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: the control plane and its REST API.
    Agent(agent::AgentArgs),
    /// Create, list, inspect and delete databases.
    #[command(subcommand)]
    Db(commands::DbCommand),
    /// Follow operations.
    #[command(subcommand)]
    Op(commands::OpCommand),
    /// Run SQL against a database and read its output.
    #[command(subcommand)]
    Sql(commands::SqlCommand),
    /// Take, list, inspect and delete backups.
    #[command(subcommand)]
    Backup(commands::BackupCommand),
    /// The host pool databases are placed on.
    #[command(subcommand)]
    Hosts(commands::HostsCommand),
    /// Find cloud resources no database owns, and databases whose
    /// resources are gone; `--fix` removes the former.
    Doctor(commands::DoctorArgs),
    /// Print, offline, what creating a database would submit: its Nomad
    /// jobs, its Pacemaker group, its OpenStack requests.
    Render(render::RenderArgs),
}

/// `dbaas agent` also takes its flags the way `nomad agent` and `consul
/// agent` spell them, with one dash (`-dev`, `-config=FILE`).
fn nomad_style_flags(args: impl Iterator<Item = String>) -> Vec<String> {
    let args: Vec<String> = args.collect();
    if args.get(1).map(String::as_str) != Some("agent") {
        return args;
    }
    args.into_iter()
        .map(|a| {
            let long = a.len() > 2 && a.starts_with('-') && !a.starts_with("--");
            if long {
                format!("-{a}")
            } else {
                a
            }
        })
        .collect()
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // One TLS crypto provider for the whole process, chosen before any TLS
    // client is built.
    dbaas_client::install_crypto_provider();
    let cli = Cli::parse_from(nomad_style_flags(std::env::args()));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dbaas: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Agent(args) => agent::run(args).await,
            Command::Db(c) => commands::db(c).await,
            Command::Op(c) => commands::op(c).await,
            Command::Sql(c) => commands::sql(c).await,
            Command::Backup(c) => commands::backup(c).await,
            Command::Hosts(c) => commands::hosts(c).await,
            Command::Doctor(a) => commands::doctor(a).await,
            Command::Render(a) => render::run(a),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("dbaas: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn agent_flags_may_have_one_dash_like_nomads() {
        assert_eq!(
            nomad_style_flags(
                args(&["dbaas", "agent", "-dev", "-data-dir=/x", "--listen", "a"]).into_iter()
            ),
            args(&["dbaas", "agent", "--dev", "--data-dir=/x", "--listen", "a"])
        );
        // Client commands keep their short options.
        assert_eq!(
            nomad_style_flags(args(&["dbaas", "sql", "run", "x", "-c", "SELECT 1"]).into_iter()),
            args(&["dbaas", "sql", "run", "x", "-c", "SELECT 1"])
        );
        let cli = Cli::try_parse_from(nomad_style_flags(
            args(&["dbaas", "agent", "-dev"]).into_iter(),
        ));
        assert!(cli.is_ok());
    }
}
