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
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // One TLS crypto provider for the whole process, chosen before any TLS
    // client is built.
    dbaas_client::install_crypto_provider();
    let cli = Cli::parse();
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
