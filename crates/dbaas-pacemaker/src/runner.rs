//! How the driver runs the Pacemaker tools: an interface, so that the same
//! driver runs them on this machine (tests, a control plane on a cluster
//! node) or on a host of the pair over SSH ([`crate::ssh`]).
//!
//! A command is a program and a vector of arguments, never a shell line:
//! values (ids, XML) are single arguments and cannot be re-parsed into
//! words or commands. The SSH runner keeps that promise itself (ssh joins
//! its arguments into one remote shell line, so it quotes each argument).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

/// What a finished command left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code; `None` when a signal ended the command.
    pub code: Option<i32>,
    /// Standard output, decoded lossily as UTF-8.
    pub stdout: String,
    /// Standard error, decoded lossily as UTF-8.
    pub stderr: String,
}

impl CommandOutput {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs one Pacemaker tool to completion.
#[async_trait]
pub trait CommandRunner: Send + Sync {
    /// Runs `program` with `args` and returns its output whatever its exit
    /// code. An `Err` means the command could not be run (not installed,
    /// no connection, timed out), not that it failed.
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CommandOutput>;
}

#[async_trait]
impl<R: CommandRunner + ?Sized> CommandRunner for std::sync::Arc<R> {
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CommandOutput> {
        (**self).run(program, args).await
    }
}

/// Where the Pacemaker tools are installed on Debian; a non-root PATH
/// lacks it, so a bare program name is looked up here first.
const SBIN: &str = "/usr/sbin";

/// Runs the tools on this machine with `tokio::process`.
#[derive(Debug, Clone)]
pub struct LocalRunner {
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl Default for LocalRunner {
    fn default() -> Self {
        LocalRunner::new()
    }
}

impl LocalRunner {
    /// A runner for the live cluster this machine belongs to. Commands
    /// that run longer than 2 minutes are killed (a CIB call normally
    /// answers in milliseconds; a hung one must not hang the caller).
    pub fn new() -> Self {
        LocalRunner {
            // The tools must reach the live CIB, whatever the caller's
            // environment says.
            env: Vec::new(),
            timeout: Duration::from_secs(120),
        }
    }

    /// A runner whose commands work on a CIB file instead of a live
    /// cluster (`CIB_file`): `cibadmin` and `crm_mon` then read and write
    /// the file. Used to check the driver without a cluster.
    pub fn with_cib_file(path: &Path) -> Self {
        let mut runner = LocalRunner::new();
        runner
            .env
            .push(("CIB_file".to_owned(), path.to_string_lossy().into_owned()));
        runner
    }

    /// Sets the time after which a command is killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn resolve(program: &str) -> PathBuf {
        if program.contains('/') {
            return PathBuf::from(program);
        }
        let sbin = Path::new(SBIN).join(program);
        if sbin.exists() {
            sbin
        } else {
            PathBuf::from(program)
        }
    }
}

#[async_trait]
impl CommandRunner for LocalRunner {
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CommandOutput> {
        let mut cmd = tokio::process::Command::new(Self::resolve(program));
        cmd.args(args)
            .env_remove("CIB_file")
            .stdin(std::process::Stdio::null())
            // A timed-out command is killed when its future is dropped.
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let output = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{program} did not finish within {:?}", self.timeout),
                )
            })??;
        Ok(CommandOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}
