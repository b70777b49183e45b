//! The `dbaas` binary: the agent and the client commands in one.

fn main() -> std::process::ExitCode {
    dbaas_cli::main()
}
