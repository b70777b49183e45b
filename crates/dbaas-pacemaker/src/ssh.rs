//! Running the Pacemaker tools on a host of the pair over SSH.
//!
//! [`SshRunner`] runs the system `ssh` client as a child process, in batch
//! mode (no password or passphrase prompt, ever), with the key, user, port,
//! host-key policy and timeouts of its configuration and nothing from the
//! user's or the system's SSH configuration files (`-F /dev/null`), so what
//! it does depends only on what dbaas was given.
//!
//! # Keeping the argument vector intact
//!
//! ssh has no argument vector on the wire: it joins its trailing arguments
//! with spaces into one command line, and the remote user's login shell
//! parses that line again. So each word is quoted here for a POSIX shell
//! ([`shell_quote`]: single quotes, a single quote written `'\''`), which
//! makes every byte of it literal — spaces, newlines, `$(…)`, backquotes,
//! `;`, `*`, quotes, XML — and the remote program receives exactly the
//! vector the driver built. The remote user's login shell must be a POSIX
//! shell (sh, dash, bash); csh-like shells read quotes differently.
//!
//! The command is run through `env`, which sets the environment variables
//! of the runner (names checked, values quoted like any word; `CIB_file`
//! for a CIB file, and a `PATH` that has `/usr/sbin`, where Debian puts the
//! tools) and then executes the program with its arguments without any
//! further parsing.
//!
//! # Errors
//!
//! As the [`CommandRunner`] contract says, an `Err` means the command could
//! not be run: ssh itself failed (exit code 255: no connection, refused
//! authentication, an unknown or changed host key), the remote program was
//! not found (127) or could not be executed (126), or the whole call took
//! longer than the runner's timeout (the local ssh is killed; a remote
//! command that ignores its closed connection may run on). Any other exit
//! code is the remote program's, returned in the [`CommandOutput`].

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;

use crate::names::{AbsolutePath, Error};
use crate::runner::{CommandOutput, CommandRunner};

/// Quotes `word` for a POSIX shell: the shell reads the result back as
/// exactly `word`, as one word, with nothing expanded. Single quotes make
/// every character literal except the single quote itself, which is
/// written as `'\''` (close the quotes, an escaped quote, reopen).
pub fn shell_quote(word: &str) -> String {
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('\'');
    for c in word.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

/// How the runner decides whether it talks to the right host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only a host whose key is in this `known_hosts` file
    /// (`StrictHostKeyChecking=yes`): the production choice, with the
    /// file written when the host is provisioned.
    Strict(AbsolutePath),
    /// A host seen for the first time has its key recorded in this file; a
    /// host whose key changed is refused (`StrictHostKeyChecking=accept-new`).
    AcceptNew(AbsolutePath),
}

impl HostKeyPolicy {
    fn options(&self) -> [String; 2] {
        let (mode, file) = match self {
            HostKeyPolicy::Strict(file) => ("yes", file),
            HostKeyPolicy::AcceptNew(file) => ("accept-new", file),
        };
        [
            format!("StrictHostKeyChecking={mode}"),
            format!("UserKnownHostsFile={file}"),
        ]
    }
}

/// The `PATH` the remote commands get unless told otherwise: Debian's
/// Pacemaker tools are in `/usr/sbin`, which a non-root login lacks.
pub const DEFAULT_REMOTE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// ssh's own exit code for its own failures.
const SSH_FAILED: i32 = 255;

/// Runs commands on one host over SSH (see the module documentation).
#[derive(Debug, Clone)]
pub struct SshRunner {
    ssh: String,
    host: String,
    port: u16,
    user: String,
    identity: AbsolutePath,
    host_keys: HostKeyPolicy,
    connect_timeout: Duration,
    timeout: Duration,
    env: Vec<(String, String)>,
}

fn invalid(kind: &'static str, value: &str, reason: &str) -> Error {
    Error::Invalid {
        kind,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A host name (RFC 1123 labels) or an IP address. A leading `-` would be
/// read by ssh as an option; `@`, `:` (outside an IPv6 address), `%` and
/// spaces would change what ssh connects to.
fn check_host(host: &str) -> Result<(), Error> {
    const RULE: &str = "an SSH host is an IP address or a host name of letters, digits, hyphens and dots, up to 253 characters, each label starting and ending with a letter or digit";
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(invalid("SSH host", host, RULE));
    }
    Ok(())
}

/// A login name as Debian's `adduser` accepts it by default.
fn check_user(user: &str) -> Result<(), Error> {
    const RULE: &str = "an SSH user is 1 to 32 lowercase letters, digits, underscores, dots and hyphens, starting with a letter or an underscore";
    let first_ok = user.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
    let rest_ok = user
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if user.len() > 32 || !first_ok || !rest_ok {
        return Err(invalid("SSH user", user, RULE));
    }
    Ok(())
}

/// An environment variable name as POSIX defines portable ones.
fn check_env_name(name: &str) -> Result<(), Error> {
    const RULE: &str = "environment variable names are ASCII letters, digits and underscores, not starting with a digit";
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(invalid("environment variable name", name, RULE));
    }
    Ok(())
}

fn no_nul(what: &str, value: &str) -> io::Result<()> {
    if value.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {value:?} contains a NUL byte, which no command line can carry"),
        ));
    }
    Ok(())
}

impl SshRunner {
    /// A runner that logs in to `host` (port 22) as `user` with the private
    /// key in `identity`, checking the host's key by `host_keys`. Connects
    /// within 10 s; a command that runs longer than 2 minutes is given up.
    pub fn new(
        host: &str,
        user: &str,
        identity: AbsolutePath,
        host_keys: HostKeyPolicy,
    ) -> Result<Self, Error> {
        check_host(host)?;
        check_user(user)?;
        Ok(SshRunner {
            ssh: "ssh".to_owned(),
            host: host.to_owned(),
            port: 22,
            user: user.to_owned(),
            identity,
            host_keys,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            env: vec![("PATH".to_owned(), DEFAULT_REMOTE_PATH.to_owned())],
        })
    }

    /// Connects to `port` instead of 22.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Gives up connecting after `timeout` (ssh's `ConnectTimeout`, whole
    /// seconds, at least one).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Gives up a whole call (connection and command) after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `ssh` from this path instead of the one on `PATH`.
    pub fn ssh_program(mut self, program: &Path) -> Self {
        self.ssh = program.to_string_lossy().into_owned();
        self
    }

    /// Sets the environment variable `name` to `value` for every remote
    /// command (replacing an earlier value, `PATH` included). The value may
    /// hold any character but NUL; it reaches the command unchanged.
    pub fn env(mut self, name: &str, value: &str) -> Result<Self, Error> {
        check_env_name(name)?;
        if value.contains('\0') {
            return Err(invalid(
                "environment variable value",
                value,
                "it contains a NUL byte",
            ));
        }
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Makes the remote tools work on the CIB file at `path` on the remote
    /// host (`CIB_file`) instead of the live CIB.
    pub fn with_cib_file(self, path: &AbsolutePath) -> Self {
        self.env("CIB_file", path.as_str())
            .expect("CIB_file is a valid name and a checked path has no NUL")
    }

    /// The host this runner logs in to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The line the remote shell parses: `exec env 'NAME=value'…
    /// 'program' 'arg'…`, every word quoted.
    pub fn remote_command(&self, program: &str, args: &[String]) -> io::Result<String> {
        no_nul("program", program)?;
        // `env` would take a word with `=` for an assignment, and a
        // leading `-` for one of its options.
        if program.is_empty() || program.contains('=') || program.starts_with('-') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{program:?} cannot be run through env: empty, or with '=' or a leading '-'"
                ),
            ));
        }
        let mut words = vec!["exec".to_owned(), "env".to_owned()];
        for (name, value) in &self.env {
            words.push(shell_quote(&format!("{name}={value}")));
        }
        words.push(shell_quote(program));
        for arg in args {
            no_nul("argument", arg)?;
            words.push(shell_quote(arg));
        }
        Ok(words.join(" "))
    }

    /// The arguments given to the local `ssh`.
    pub fn ssh_args(&self, program: &str, args: &[String]) -> io::Result<Vec<String>> {
        let remote = self.remote_command(program, args)?;
        let connect = self.connect_timeout.as_secs().max(1);
        let [strict, known_hosts] = self.host_keys.options();
        let mut out: Vec<String> = [
            // No configuration file: only what dbaas was given counts.
            "-F",
            "/dev/null",
            // No terminal, no X11 or agent forwarding.
            "-T",
            "-x",
            "-a",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for option in [
            "BatchMode=yes".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            format!("IdentityFile={}", self.identity),
            strict,
            known_hosts,
            "GlobalKnownHostsFile=/dev/null".to_owned(),
            format!("ConnectTimeout={connect}"),
            // A connection whose peer vanished (the host was fenced) is
            // noticed within 30 s instead of the TCP timeout.
            "ServerAliveInterval=10".to_owned(),
            "ServerAliveCountMax=3".to_owned(),
            "LogLevel=ERROR".to_owned(),
        ] {
            out.push("-o".to_owned());
            out.push(option);
        }
        out.extend([
            "-p".to_owned(),
            self.port.to_string(),
            "-l".to_owned(),
            self.user.clone(),
            "--".to_owned(),
            self.host.clone(),
            remote,
        ]);
        Ok(out)
    }
}

#[async_trait]
impl CommandRunner for SshRunner {
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CommandOutput> {
        let ssh_args = self.ssh_args(program, args)?;
        let mut cmd = tokio::process::Command::new(&self.ssh);
        cmd.args(&ssh_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let target = format!("{}@{}:{}", self.user, self.host, self.port);
        let output = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{program} on {target} did not finish within {:?}",
                        self.timeout
                    ),
                )
            })?
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", self.ssh)))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let code = output.status.code();
        let failed = |kind: io::ErrorKind, what: &str| {
            io::Error::new(kind, format!("{what} on {target}: {}", stderr.trim()))
        };
        match code {
            Some(SSH_FAILED) => Err(failed(
                io::ErrorKind::ConnectionRefused,
                "ssh could not run the command",
            )),
            Some(127) => Err(failed(
                io::ErrorKind::NotFound,
                &format!("{program} was not found"),
            )),
            Some(126) => Err(failed(
                io::ErrorKind::PermissionDenied,
                &format!("{program} cannot be executed"),
            )),
            _ => Ok(CommandOutput {
                code,
                stdout,
                stderr,
            }),
        }
    }
}

/// Runs each command on the first of several runners that can run it: the
/// hosts of a pair, so that the CIB (which every node of the pair holds) is
/// reached while one host is down or being fenced. A runner is passed over
/// only when it could not run the command (an `Err`); a command that ran
/// and failed is the answer. Running a CIB write again on the other host is
/// safe: the driver's writes are checked against the CIB's version.
#[derive(Debug, Clone)]
pub struct FirstReachable<R> {
    runners: Vec<R>,
}

impl<R: CommandRunner> FirstReachable<R> {
    /// Tries `runners` in this order for every command.
    pub fn new(runners: Vec<R>) -> Self {
        FirstReachable { runners }
    }
}

impl FirstReachable<SshRunner> {
    /// Makes the tools on every host work on the CIB file at `path` there
    /// ([`SshRunner::with_cib_file`]).
    pub fn with_cib_file(self, path: &AbsolutePath) -> Self {
        FirstReachable {
            runners: self
                .runners
                .into_iter()
                .map(|r| r.with_cib_file(path))
                .collect(),
        }
    }
}

#[async_trait]
impl<R: CommandRunner> CommandRunner for FirstReachable<R> {
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CommandOutput> {
        let mut errors = Vec::new();
        for runner in &self.runners {
            match runner.run(program, args).await {
                Ok(out) => return Ok(out),
                // A bad command fails the same way everywhere.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
                Err(e) => {
                    tracing::warn!(program, error = %e, "a host of the pair cannot run the command; next");
                    errors.push(e.to_string());
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotConnected,
            format!("no host could run {program}: {}", errors.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner() -> SshRunner {
        SshRunner::new(
            "db-host-a.example",
            "hacluster",
            AbsolutePath::parse("/etc/dbaas/ssh/id_ed25519").unwrap(),
            HostKeyPolicy::Strict(AbsolutePath::parse("/etc/dbaas/ssh/known_hosts").unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn quoting_makes_every_character_literal() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("''"), r"''\'''\'''");
        assert_eq!(shell_quote("$(id)\n`id`"), "'$(id)\n`id`'");
    }

    /// The quoted words, read back by a real POSIX shell, are the words.
    #[test]
    fn the_shell_reads_quoted_words_back_unchanged() {
        let words = [
            "",
            "a b",
            "it's",
            "\"double\"",
            "$(touch /nonexistent/x)",
            "`id`",
            "a;b|c&d",
            "line\nbreak",
            "*",
            "~",
            "\\",
            "-n",
            "<cib a=\"1\" b='2'>&amp;</cib>",
            "é ☃",
        ];
        let line = words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {line}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let back: Vec<&str> = text.strip_suffix('\0').unwrap().split('\0').collect();
        assert_eq!(back, words);
    }

    #[test]
    fn the_remote_command_is_env_then_quoted_words() {
        let r = runner()
            .with_cib_file(&AbsolutePath::parse("/tmp/cib.xml").unwrap())
            .env("PATH", "/usr/sbin:/usr/bin")
            .unwrap();
        assert_eq!(
            r.remote_command("cibadmin", &["--query".into(), "a b".into()])
                .unwrap(),
            "exec env 'CIB_file=/tmp/cib.xml' 'PATH=/usr/sbin:/usr/bin' 'cibadmin' '--query' 'a b'"
        );
    }

    #[test]
    fn ssh_gets_batch_mode_the_policy_and_the_command_after_double_dash() {
        let args = runner()
            .port(2222)
            .connect_timeout(Duration::from_secs(3))
            .ssh_args("crm_mon", &["--one-shot".into()])
            .unwrap();
        let pos = |s: &str| args.iter().position(|a| a == s).unwrap();
        for option in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/etc/dbaas/ssh/known_hosts",
            "IdentityFile=/etc/dbaas/ssh/id_ed25519",
            "ConnectTimeout=3",
        ] {
            assert_eq!(args[pos(option) - 1], "-o", "{args:?}");
        }
        assert_eq!(args[pos("-p") + 1], "2222");
        assert_eq!(args[pos("-l") + 1], "hacluster");
        let dd = pos("--");
        assert_eq!(
            &args[dd + 1..],
            [
                "db-host-a.example",
                "exec env 'PATH=/usr/sbin:/usr/bin:/sbin:/bin' 'crm_mon' '--one-shot'"
            ]
        );
    }

    #[test]
    fn hostile_targets_and_names_are_refused() {
        let key = || AbsolutePath::parse("/k").unwrap();
        let policy = || HostKeyPolicy::AcceptNew(AbsolutePath::parse("/kh").unwrap());
        for host in [
            "",
            "-oProxyCommand=sh",
            "a b",
            "user@host",
            "host:22",
            "h%h",
            "a..b",
            "-h",
        ] {
            assert!(
                SshRunner::new(host, "root", key(), policy()).is_err(),
                "{host:?}"
            );
        }
        for host in ["127.0.0.1", "::1", "db-host-a", "db-host-a.example.com"] {
            SshRunner::new(host, "root", key(), policy()).unwrap();
        }
        for user in ["", "-l", "Root", "a b", "a@b", "a;b"] {
            assert!(
                SshRunner::new("h", user, key(), policy()).is_err(),
                "{user:?}"
            );
        }
        for name in ["", "1A", "A B", "A=B", "A;B", "É"] {
            assert!(runner().env(name, "v").is_err(), "{name:?}");
        }
        assert!(runner().env("A", "a\0b").is_err());
        let r = runner();
        for program in ["", "A=B", "-i"] {
            let err = r.remote_command(program, &[]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{program:?}");
        }
        let err = r.remote_command("echo", &["a\0b".into()]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
