//! Harness of the end-to-end tests: a real `dbaas agent` process with its
//! own data directory and loopback address pool, driven through the real
//! client, with real PostgreSQL engines.

#![allow(dead_code)]

pub mod cloud;
pub mod workflow;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dbaas_client::Client;
use dbaas_model::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_dbaas");

/// A running (or crashed) agent under test.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub pool: String,
    /// Extra HCL appended to the agent's configuration.
    extra_config: String,
    /// Extra HCL inside its `local { }` block, and extra environment.
    local_config: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
    pub client: Client,
    pub address: String,
}

fn unique_pool() -> String {
    // Every test agent gets a /24 of its own inside 127.0.0.0/8, so tests
    // running in parallel never hand out the same address. Test binaries
    // run one at a time; within one, a counter keeps pools apart.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let base = std::process::id() % 100;
    format!("127.{}.{}.0/24", 100 + base, 1 + n % 250)
}

impl Agent {
    /// Starts an agent with a fresh data directory.
    pub fn start() -> Agent {
        Self::start_with(None)
    }

    pub fn start_with(failpoints: Option<&str>) -> Agent {
        Self::start_configured(failpoints, "")
    }

    /// Starts an agent whose configuration has `extra` HCL appended.
    pub fn start_configured(failpoints: Option<&str>, extra: &str) -> Agent {
        Self::start_full(failpoints, "", extra, &[])
    }

    /// Starts an agent with `local` HCL in its `local { }` block, `extra`
    /// HCL appended and `env` in its environment.
    pub fn start_in_environment(local: &str, extra: &str, env: &[(&str, &str)]) -> Agent {
        Self::start_full(None, local, extra, env)
    }

    fn start_full(
        failpoints: Option<&str>,
        local: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Agent {
        dbaas_client::install_crypto_provider();
        let dir = tempfile::Builder::new()
            .prefix("dbaas")
            .tempdir_in("/tmp")
            .unwrap();
        let mut a = Agent {
            dir,
            pool: unique_pool(),
            extra_config: extra.to_string(),
            local_config: local.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            client: Client::new("http://127.0.0.1:1"),
            address: String::new(),
        };
        a.spawn(failpoints);
        a
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("agent.hcl")
    }

    /// Starts the agent process on the existing data directory.
    pub fn spawn(&mut self, failpoints: Option<&str>) {
        let data = self.data_dir();
        let hcl = format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nsupervise_interval_seconds = 1\nlocal {{\n  address_pool = \"{}\"\n{}\n}}\n{}\n",
            data.display(),
            self.pool,
            self.local_config,
            self.extra_config
        );
        std::fs::write(self.config_path(), hcl).unwrap();
        let _ = std::fs::remove_file(data.join("agent.addr"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("agent.log"))
            .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("agent")
            .arg("--config")
            .arg(self.config_path())
            .env("DBAAS_LOG", "info")
            .env_remove("DBAAS_FAILPOINTS")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(fp) = failpoints {
            cmd.env("DBAAS_FAILPOINTS", fp);
        }
        self.child = Some(cmd.spawn().expect("start the agent"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let addr = std::fs::read_to_string(data.join("agent.addr")).unwrap_or_default();
            if addr.ends_with('\n') {
                self.address = addr.trim().to_string();
                self.client = Client::new(&self.address);
                break;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the agent exited at start ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// Waits for the agent to exit on its own (a crash failpoint) and
    /// returns whether it was killed by a signal.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("agent running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                self.child = None;
                return status.signal() == Some(9);
            }
            if Instant::now() > deadline {
                panic!("the agent did not stop within {timeout:?}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kill -9 of the agent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts the agent on the same data directory.
    pub fn restart(&mut self, failpoints: Option<&str>) {
        self.kill();
        self.spawn(failpoints);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Processes (other than zombies) whose command line mentions this
    /// agent's data directory: engines left behind would show here.
    pub fn engine_processes(&self) -> Vec<(i32, String)> {
        processes_mentioning(self.dir.path())
    }

    pub fn dir_entries(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path().join(sub))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Asserts that nothing of any database remains: no engine process,
    /// volume, socket directory, connection file, catalog row or address.
    /// Stops the agent to read its state store.
    pub async fn assert_no_orphans(&mut self) {
        let dbs = self.client.list_databases().await.unwrap();
        assert!(dbs.is_empty(), "databases remain: {dbs:?}");
        // What `dbaas doctor` would tell an operator.
        let report = self.client.doctor(false).await.unwrap();
        assert_eq!(
            report,
            DoctorReport::default(),
            "dbaas doctor finds something"
        );
        self.kill();
        // Helper processes die with the agent, but the kernel kills them
        // asynchronously: give them a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.engine_processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(self.engine_processes(), vec![], "engine processes remain");
        assert_eq!(
            self.dir_entries("volumes"),
            Vec::<String>::new(),
            "volumes remain"
        );
        assert_eq!(
            self.dir_entries("s"),
            Vec::<String>::new(),
            "socket directories remain"
        );
        assert_eq!(
            self.dir_entries("connections"),
            Vec::<String>::new(),
            "connection files remain"
        );
        let store = dbaas_store::Store::open(&self.dir.path().join("state.redb")).unwrap();
        assert_eq!(
            store.list_databases().unwrap().len(),
            0,
            "catalog rows remain"
        );
        assert_eq!(
            store.list_addresses().unwrap(),
            vec![],
            "addresses remain allocated"
        );
    }

    /// Creates a database and waits for it.
    pub async fn create(&self, name: &str) -> Operation {
        let op = self
            .client
            .create_database(&CreateDatabaseRequest {
                name: name.into(),
                engine: None,
                version: None,
                size_gb: Some(1),
            })
            .await
            .expect("create accepted");
        self.wait(&op.id).await
    }

    /// After a request on which a failpoint made the agent kill itself:
    /// waits for its death (up to `within`), restarts it without
    /// failpoints, finds the operation of `kind` on `target` the request
    /// made, and waits until that operation has finished.
    pub async fn resume_after_crash(
        &mut self,
        within: Duration,
        kind: OperationKind,
        target: &str,
    ) -> Operation {
        assert!(
            self.wait_exit(within),
            "the agent should have been killed by its failpoint: {}",
            self.log()
        );
        self.restart(None);
        let op = self.find_operation(kind, target).await;
        self.wait(&op.id).await
    }

    /// Finds the newest operation of `kind` on `target`: for a request whose
    /// answer was lost because the agent was killed while sending it.
    pub async fn find_operation(&self, kind: OperationKind, target: &str) -> Operation {
        self.client
            .list_operations(Some(target))
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} operation on {target}: {}", self.log()))
    }

    /// Waits for an operation to finish (tolerating an agent that is
    /// restarting).
    pub async fn wait(&self, id: &str) -> Operation {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(op) = self.client.get_operation(id).await {
                if op.state.is_finished() {
                    return op;
                }
            }
            assert!(
                Instant::now() < deadline,
                "operation {id} did not finish: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the database's operating status is `want`.
    pub async fn wait_status(&self, name: &str, want: OperatingStatus) -> Database {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let db = self.client.get_database(name).await.unwrap();
            if db.operating_status == want {
                return db;
            }
            assert!(
                Instant::now() < deadline,
                "{name} never became {want:?}: {db:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        stop_engines(self.dir.path());
    }
}

/// Stops every engine under a data directory, whatever state it is in.
pub fn stop_engines(data_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(data_dir.join("volumes")) else {
        return;
    };
    for e in rd.flatten() {
        let pgdata = e.path().join("pgdata");
        if let Ok(pid) = std::fs::read_to_string(pgdata.join("postmaster.pid")) {
            if let Some(pid) = pid
                .lines()
                .next()
                .and_then(|l| l.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Live processes whose command line contains `path`.
pub fn processes_mentioning(path: &Path) -> Vec<(i32, String)> {
    let needle = path.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle)
            && !cmd.contains(" agent --config ")
            && pid != std::process::id() as i32
        {
            out.push((pid, cmd));
        }
    }
    out
}

/// Connects with the credentials dbaas handed out.
pub async fn connect(c: &Connection) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&c.uri, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", c.uri));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}
