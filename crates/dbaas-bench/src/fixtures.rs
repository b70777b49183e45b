//! What the backup benchmark runs against, each a guard that stops what it
//! started (by PID) when dropped, so that an error or a Ctrl-C anywhere
//! leaves no process and no directory behind:
//!
//! * [`Swift`]: a real all-in-one Swift from `scripts/swift start --dir
//!   BASE/swift --until-pid <this process>` (its proxy also serves s3api,
//!   with tempauth's `test:tester` as S3 access key); the script's watcher
//!   stops it even if this process is killed.
//! * [`Stunnel`]: stunnel4 terminating TLS in front of the proxy, with a
//!   throwaway self-signed certificate, because pgBackRest 2.45 talks to S3
//!   over HTTPS only.
//! * [`Cluster`]: a throwaway PostgreSQL cluster (initdb as user postgres
//!   through runuser), listening on its unix socket only.
//!
//! Everything listens on 127.0.0.1 or on a socket under BASE.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};

/// The OS user PostgreSQL and pgBackRest run as when we are root.
pub const PG_USER: &str = "postgres";

pub fn as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `program` as the PostgreSQL user: through `runuser -u postgres --` as
/// root, directly otherwise. Arguments are passed as a vector, never
/// through a shell.
pub fn pg_command(program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
    let mut c = if as_root() {
        let mut c = tokio::process::Command::new("runuser");
        c.arg("-u").arg(PG_USER).arg("--").arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    c.stdin(Stdio::null()).kill_on_drop(true);
    c
}

/// Hands `path` to the PostgreSQL user (a no-op unless root).
pub fn give_to_postgres(path: &Path) -> anyhow::Result<()> {
    if as_root() {
        let u = nix::unistd::User::from_name(PG_USER)?.context(
            "running as root needs the user postgres (Debian's postgresql packages create it)",
        )?;
        nix::unistd::chown(path, Some(u.uid), Some(u.gid))
            .with_context(|| format!("chown {}", path.display()))?;
    }
    Ok(())
}

/// Creates `path` (mode `mode`) owned by the PostgreSQL user.
pub fn postgres_dir(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    give_to_postgres(path)
}

/// A port of 127.0.0.1 nobody listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs a short command to completion within `limit`, failing with its
/// stderr when it fails.
pub async fn run(
    mut cmd: tokio::process::Command,
    what: &str,
    limit: Duration,
) -> anyhow::Result<String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .with_context(|| format!("{what}: no answer within {} s", limit.as_secs()))?
        .with_context(|| format!("{what}: cannot start"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Installs Debian packages, only those of `wanted` whose program is
/// missing, with apt (as root only).
pub fn ensure_packages(wanted: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(program, _)| which(program).is_none())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    ensure!(
        as_root(),
        "missing Debian packages {missing:?}: install them (apt-get install {})",
        missing.join(" ")
    );
    eprintln!("installing {} with apt-get", missing.join(" "));
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        // The package lists may be missing or stale: refresh once, retry.
        let _ = Command::new("apt-get")
            .args(["update", "-q"])
            .stdin(Stdio::null())
            .status();
        let ok = Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ensure!(ok, "apt-get install {} failed", missing.join(" "));
    }
    for (program, package) in wanted {
        ensure!(
            which(program).is_some(),
            "{package} is installed but {program} is still missing"
        );
    }
    Ok(())
}

/// The full path of a program on `PATH` (plus the sbin directories).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Makes a child die (SIGKILL) when the thread that spawned it exits: the
/// benchmark spawns from the main thread, so when the process dies however
/// it dies, its helpers die with it.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: runs in the forked child before exec and makes one
    // async-signal-safe system call.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

/// A Swift started by `scripts/swift`, with s3api on its proxy.
pub struct Swift {
    script: PathBuf,
    dir: PathBuf,
    /// tempauth: `http://127.0.0.1:PORT/auth/v1.0`.
    pub auth_url: String,
    /// `account:user`, also the S3 access key.
    pub user: String,
    /// The tempauth key, also the S3 secret key.
    pub key: String,
    /// The proxy's port (native API and s3api).
    pub proxy_port: u16,
}

impl Swift {
    pub fn start(dir: &Path) -> anyhow::Result<Swift> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/swift");
        let mut swift = Swift {
            script,
            dir: dir.to_path_buf(),
            auth_url: String::new(),
            user: String::new(),
            key: String::new(),
            proxy_port: 0,
        };
        // From here on, dropping `swift` stops whatever the script started.
        let out = Command::new(&swift.script)
            .arg("start")
            .arg("--dir")
            .arg(dir)
            .arg("--until-pid")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", swift.script.display()))?;
        ensure!(
            out.status.success(),
            "scripts/swift start failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let get = |k: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .map(str::to_string)
                .with_context(|| {
                    format!("scripts/swift printed no {k} (an old state directory?): {stdout}")
                })
        };
        swift.auth_url = get("SWIFT_AUTH_URL")?;
        swift.user = get("SWIFT_USER")?;
        swift.key = get("SWIFT_KEY")?;
        let endpoint = get("SWIFT_S3_ENDPOINT")?;
        ensure!(
            get("SWIFT_S3_ACCESS_KEY")? == swift.user && get("SWIFT_S3_SECRET_KEY")? == swift.key,
            "scripts/swift's S3 credentials are not tempauth's"
        );
        swift.proxy_port = endpoint
            .strip_prefix("http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("SWIFT_S3_ENDPOINT={endpoint}: not on 127.0.0.1"))?;
        Ok(swift)
    }

    /// Creates a container through the native API (an S3 bucket for
    /// s3api), as tempauth's user.
    pub async fn create_container(&self, name: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let auth = http
            .get(&self.auth_url)
            .header("X-Auth-User", &self.user)
            .header("X-Auth-Key", &self.key)
            .send()
            .await?
            .error_for_status()?;
        let h = |k: &str| -> anyhow::Result<String> {
            Ok(auth
                .headers()
                .get(k)
                .with_context(|| format!("tempauth answered without {k}"))?
                .to_str()?
                .to_string())
        };
        let (url, token) = (h("x-storage-url")?, h("x-auth-token")?);
        http.put(format!("{url}/{name}"))
            .header("X-Auth-Token", token)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("creating the container {name}"))?;
        Ok(())
    }
}

impl Drop for Swift {
    fn drop(&mut self) {
        for cmd in ["stop", "purge"] {
            let _ = Command::new(&self.script)
                .arg(cmd)
                .arg("--dir")
                .arg(&self.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// stunnel4 accepting TLS on 127.0.0.1:`port` and forwarding to a plain
/// port of 127.0.0.1.
pub struct Stunnel {
    child: Child,
    pub port: u16,
    /// The certificate (also the CA to trust).
    pub cert: PathBuf,
}

impl Stunnel {
    /// Makes a throwaway self-signed certificate for `127.0.0.1` (SAN
    /// `DNS:127.0.0.1`: pgBackRest checks the host name against DNS
    /// entries) with the openssl CLI, and starts stunnel4 in the
    /// foreground.
    pub async fn start(dir: &Path, target_port: u16) -> anyhow::Result<Stunnel> {
        std::fs::create_dir_all(dir)?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let mut openssl = tokio::process::Command::new("openssl");
        openssl
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert);
        run(openssl, "openssl req", Duration::from_secs(60)).await?;
        // Readable by pgBackRest, which runs as postgres.
        std::fs::set_permissions(&cert, std::fs::Permissions::from_mode(0o644))?;
        let port = free_port()?;
        let conf = dir.join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[s3tls]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{target_port}\ncert = {}\nkey = {}\n",
                cert.display(),
                key.display()
            ),
        )?;
        let log = std::fs::File::create(dir.join("stunnel.log"))?;
        let mut cmd = Command::new(which("stunnel4").context("stunnel4 is not installed")?);
        cmd.arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().context("starting stunnel4")?;
        let mut s = Stunnel { child, port, cert };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(s);
            }
            if let Some(status) = s.child.try_wait()? {
                bail!(
                    "stunnel4 exited at start ({status}): {}",
                    std::fs::read_to_string(dir.join("stunnel.log")).unwrap_or_default()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "stunnel4 did not listen on 127.0.0.1:{port} within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway PostgreSQL cluster on a unix socket only (no TCP), owned by
/// the PostgreSQL user.
pub struct Cluster {
    pub bin_dir: PathBuf,
    pub data: PathBuf,
    /// The socket's directory.
    pub sock: PathBuf,
    /// The port, which only names the socket file.
    pub port: u16,
    log: PathBuf,
    started: bool,
}

impl Cluster {
    /// `initdb` (trust, user postgres) and `pg_ctl start -w` in `dir`.
    pub async fn start(bin_dir: &Path, dir: &Path) -> anyhow::Result<Cluster> {
        postgres_dir(dir, 0o755)?;
        let sock = dir.join("sock");
        postgres_dir(&sock, 0o755)?;
        let mut c = Cluster {
            bin_dir: bin_dir.to_path_buf(),
            data: dir.join("data"),
            sock,
            port: free_port()?,
            log: dir.join("postgres.log"),
            started: false,
        };
        let mut initdb = pg_command(bin_dir.join("initdb"));
        initdb.arg("-D").arg(&c.data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run(initdb, "initdb", Duration::from_secs(300)).await?;
        // Socket only; WAL sized so that loading the data set does not
        // checkpoint all the time.
        let conf = format!(
            "\n# dbaas-bench\nlisten_addresses = ''\nport = {}\nunix_socket_directories = '{}'\nmax_wal_size = '4GB'\nfsync = on\n",
            c.port,
            c.sock.display()
        );
        c.append_conf(&conf)?;
        c.started = true;
        c.pg_ctl(&["start", "-w", "-t", "120"]).await?;
        Ok(c)
    }

    pub fn append_conf(&self, text: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))?;
        f.write_all(text.as_bytes())?;
        Ok(())
    }

    pub async fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut cmd = pg_command(self.bin_dir.join("pg_ctl"));
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(args);
        // pg_ctl start leaves the postmaster holding the pipes: wait for
        // pg_ctl's exit status only.
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let status = tokio::time::timeout(Duration::from_secs(180), cmd.status())
            .await
            .context("pg_ctl took over 180 s")??;
        if !status.success() {
            bail!(
                "pg_ctl {} failed ({status}); server log:\n{}",
                args.join(" "),
                tail(&self.log, 15)
            );
        }
        Ok(())
    }

    /// `host=SOCKETDIR port=PORT user=postgres dbname=DB`.
    pub fn config(&self, db: &str) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host_path(&self.sock)
            .port(self.port)
            .user("postgres")
            .dbname(db)
            .connect_timeout(Duration::from_secs(10));
        cfg
    }

    pub async fn connect(&self, db: &str) -> anyhow::Result<tokio_postgres::Client> {
        let (client, conn) = self
            .config(db)
            .connect(tokio_postgres::NoTls)
            .await
            .context("connecting to the benchmark cluster")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        // Immediate stop: nothing here needs a clean shutdown. Bounded by
        // pg_ctl's -t; then the postmaster's PID, whatever happened.
        let mut cmd = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", PG_USER, "--"])
                .arg(self.bin_dir.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin_dir.join("pg_ctl"))
        };
        let _ = cmd
            .arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "immediate", "-w", "-t", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        crate::create::kill_postmaster(&self.data);
    }
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Bytes of the regular files under `path` (not following links).
pub fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}
