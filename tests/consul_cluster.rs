//! Several agents of one cluster on one (simulated) Consul: they keep
//! their state in Consul's KV store and elect one leader. Real `dbaas
//! agent` processes with the local drivers and real PostgreSQL; the agents
//! share one data directory, as agents on several hosts share their
//! volumes through the cloud, so that another agent can take over what
//! one started.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{connect, processes_mentioning, BIN};
use dbaas_client::{Client, ClientError};
use dbaas_consul_sim::Sim;
use dbaas_model::*;

const CLUSTER: &str = "e2e";
/// Long enough for any step here; a bound on waiting, not a measurement.
const PATIENCE: Duration = Duration::from_secs(120);

/// One agent of the cluster: its own configuration, log and address file,
/// the cluster's data directory.
struct Member {
    id: String,
    own: tempfile::TempDir,
    child: Option<Child>,
    client: Client,
    address: String,
}

impl Member {
    fn spawn(id: &str, sim: &Sim, data: &Path, pool: &str, failpoints: Option<&str>) -> Member {
        dbaas_client::install_crypto_provider();
        let own = tempfile::Builder::new()
            .prefix("dbaas-member")
            .tempdir_in("/tmp")
            .unwrap();
        let hcl = format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nsupervise_interval_seconds = 1\nlocal {{\n  address_pool = \"{pool}\"\n}}\nconsul {{\n  address = \"{}\"\n  cluster = \"{CLUSTER}\"\n  agent_id = \"{id}\"\n  session_ttl_seconds = 2\n  lock_delay_seconds = 1\n}}\n",
            data.display(),
            sim.url,
        );
        let config = own.path().join("agent.hcl");
        std::fs::write(&config, hcl).unwrap();
        let addr_file = own.path().join("agent.addr");
        let log = std::fs::File::create(own.path().join("agent.log")).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("agent")
            .arg("--config")
            .arg(&config)
            .arg("--address-file")
            .arg(&addr_file)
            .env("DBAAS_LOG", "info")
            .env_remove("DBAAS_FAILPOINTS")
            .env_remove("CONSUL_HTTP_ADDR")
            .env_remove("CONSUL_HTTP_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(fp) = failpoints {
            cmd.env("DBAAS_FAILPOINTS", fp);
        }
        let mut child = cmd.spawn().expect("start the agent");
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = loop {
            let a = std::fs::read_to_string(&addr_file).unwrap_or_default();
            if a.ends_with('\n') {
                break a.trim().to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "agent {id} exited at start ({status}): {}",
                    std::fs::read_to_string(own.path().join("agent.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "agent {id} did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Member {
            id: id.to_string(),
            own,
            child: Some(child),
            client: Client::new(&address),
            address,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.own.path().join("agent.log")).unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the agent to die of a crash failpoint (SIGKILL).
    fn wait_killed(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + PATIENCE;
        let child = self.child.as_mut().expect("agent running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                assert_eq!(status.signal(), Some(9), "{}", self.log());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "agent {} was not killed: {}",
                self.id,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the operation to finish, reading it from this agent
    /// (any agent of the cluster answers reads from the store).
    async fn wait(&self, id: &str) -> Operation {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let op = self.client.get_operation(id).await.unwrap();
            if op.state.is_finished() {
                return op;
            }
            assert!(
                Instant::now() < deadline,
                "operation did not finish: {op:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The agent the leader lock names, once one holds it.
async fn leader_lock(sim: &Sim) -> LeaderLock {
    let key = format!("dbaas/{CLUSTER}/leader");
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(e) = sim.entry(&key).filter(|e| e.session.is_some()) {
            let v: serde_json::Value = serde_json::from_slice(&e.value).unwrap();
            return LeaderLock {
                id: v["id"].as_str().unwrap().to_string(),
                address: v["address"].as_str().unwrap().to_string(),
                session: e.session.unwrap(),
            };
        }
        assert!(Instant::now() < deadline, "no agent took the leader lock");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Debug, Clone, PartialEq)]
struct LeaderLock {
    id: String,
    address: String,
    session: String,
}

fn request(name: &str) -> CreateDatabaseRequest {
    CreateDatabaseRequest {
        name: name.into(),
        engine: None,
        version: None,
        size_gb: Some(1),
    }
}

/// Creates through the agent holding the lock, which may be finishing
/// its election (the lock is taken before the generation is bumped).
async fn create_on_leader(leader: &Member, name: &str) -> Result<Operation, ClientError> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match leader.client.create_database(&request(name)).await {
            Err(ClientError::Api(e))
                if e.code == ErrorCode::Unavailable && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// A follower refuses a change with 503, naming the leader's address
/// (once it has learnt it from the lock).
async fn assert_refused_naming(follower: &Member, leader: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match follower.client.create_database(&request("refused")).await {
            Err(ClientError::Api(e)) if e.code == ErrorCode::Unavailable => {
                if e.message.contains(leader) {
                    assert!(e.message.contains("does not lead"), "{}", e.message);
                    return;
                }
                // An election under way: no leader known yet.
                assert!(e.message.contains("no agent leads"), "{}", e.message);
            }
            other => panic!("a follower accepted a change or failed otherwise: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the follower never named the leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Nothing of any database remains: no record, allocated address, engine
/// process, volume, socket directory or connection file.
async fn assert_nothing_left(sim: &Sim, reader: &Member, data: &Path) {
    let dbs = reader.client.list_databases().await.unwrap();
    assert!(dbs.is_empty(), "databases remain: {dbs:?}");
    assert_eq!(
        reader.client.doctor(false).await.unwrap(),
        DoctorReport::default(),
        "dbaas doctor finds something"
    );
    let allocated: Vec<String> = sim
        .state()
        .kv
        .keys()
        .filter(|k| k.starts_with(&format!("dbaas/{CLUSTER}/address")))
        .cloned()
        .collect();
    assert_eq!(
        allocated,
        Vec::<String>::new(),
        "addresses remain allocated"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(&data.join("volumes")).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        processes_mentioning(&data.join("volumes")),
        vec![],
        "engine processes remain"
    );
    for sub in ["volumes", "s", "connections"] {
        let left: Vec<PathBuf> = std::fs::read_dir(data.join(sub))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(left, Vec::<PathBuf>::new(), "{sub} remain");
    }
    // Nothing of the cluster's state is in a redb file.
    assert!(!data.join("state.redb").exists());
}

/// A /24 per test (tests of one binary run in parallel), apart from the
/// pools of the other end-to-end tests.
fn unique_pool(test: u32) -> String {
    format!("127.{}.{}.0/24", 100 + std::process::id() % 100, 252 + test)
}

fn shared_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dbaas-cluster")
        .tempdir_in("/tmp")
        .unwrap()
}

async fn simulator() -> Sim {
    let sim = dbaas_consul_sim::start().await;
    // Short sessions keep the takeover quick.
    sim.set_min_ttl(Duration::from_secs(1));
    sim
}

#[tokio::test(flavor = "multi_thread")]
async fn two_agents_elect_one_leader_which_alone_takes_changes() {
    let sim = simulator().await;
    let data = shared_dir();
    let pool = unique_pool(0);
    let a = Member::spawn("agent-a", &sim, data.path(), &pool, None);
    let b = Member::spawn("agent-b", &sim, data.path(), &pool, None);

    // Exactly one holds the lock, and it is one of the two, at its address.
    let lock = leader_lock(&sim).await;
    let (leader, follower) = if lock.id == a.id { (&a, &b) } else { (&b, &a) };
    assert_eq!(lock.id, leader.id);
    assert_eq!(lock.address, leader.address);
    assert_refused_naming(follower, &leader.address).await;

    // A create through the leader runs end to end.
    let op = create_on_leader(leader, "orders").await.unwrap();
    let done = leader.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    // Either agent reads it from the store.
    let seen = follower.client.get_database("orders").await.unwrap();
    assert_eq!(seen.state, DatabaseState::Active);
    let pg = connect(&follower.client.connection("orders").await.unwrap()).await;
    let one: i32 = pg.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    // The follower refuses the delete too, and changes nothing.
    match follower.client.delete_database("orders").await {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.code, ErrorCode::Unavailable);
            assert!(e.message.contains(&leader.address), "{}", e.message);
        }
        other => panic!("a follower accepted a delete: {other:?}"),
    }
    assert_eq!(
        leader.client.get_database("orders").await.unwrap().state,
        DatabaseState::Active
    );
    // Still the same leader: no election happened meanwhile.
    assert_eq!(leader_lock(&sim).await, lock);

    let del = leader.client.delete_database("orders").await.unwrap();
    drop(pg);
    assert_eq!(leader.wait(&del.id).await.state, OperationState::Succeeded);
    assert_nothing_left(&sim, follower, data.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_leader_dies_during_a_create_the_other_agent_finishes_it() {
    let sim = simulator().await;
    let data = shared_dir();
    let pool = unique_pool(1);
    // The first agent leads (it is alone at first) and kills itself right
    // after the engine started.
    let mut a = Member::spawn(
        "agent-a",
        &sim,
        data.path(),
        &pool,
        Some("create_database.start_engine.after=crash"),
    );
    let first = leader_lock(&sim).await;
    assert_eq!(first.id, a.id);
    let b = Member::spawn("agent-b", &sim, data.path(), &pool, None);
    assert_refused_naming(&b, &a.address).await;

    // The answer may be lost with the agent: the operation is in the
    // store, where any agent finds it.
    let _ = create_on_leader(&a, "phoenix").await;
    a.wait_killed();
    let op = {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ops = b.client.list_operations(Some("phoenix")).await.unwrap();
            if let Some(op) = ops
                .into_iter()
                .find(|o| o.kind == OperationKind::CreateDatabase)
            {
                break op;
            }
            assert!(Instant::now() < deadline, "no create operation recorded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    // Once the dead leader's session expires and the lock-delay passes,
    // the other agent leads (a new session) and resumes the create.
    let done = b.wait(&op.id).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{done:?}\n{}",
        b.log()
    );
    let now = leader_lock(&sim).await;
    assert_eq!(now.id, b.id);
    assert_ne!(now.session, first.session);
    assert!(
        b.log()
            .contains("this agent leads its cluster; resuming unfinished operations"),
        "{}",
        b.log()
    );
    let generation = sim.entry(&format!("dbaas/{CLUSTER}/generation")).unwrap();
    assert_eq!(String::from_utf8_lossy(&generation.value), "2");

    let db = b.client.get_database("phoenix").await.unwrap();
    assert_eq!(db.state, DatabaseState::Active);
    let pg = connect(&b.client.connection("phoenix").await.unwrap()).await;
    pg.batch_execute("CREATE TABLE t (v int); INSERT INTO t VALUES (1);")
        .await
        .unwrap();
    drop(pg);
    // One engine only: the one the first leader started was adopted.
    let engines: Vec<(i32, String)> = processes_mentioning(&data.path().join("volumes"))
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("postgres") && cmd.contains(" -D "))
        .collect();
    assert_eq!(engines.len(), 1, "{engines:?}");

    let del = b.client.delete_database("phoenix").await.unwrap();
    assert_eq!(b.wait(&del.id).await.state, OperationState::Succeeded);
    assert_nothing_left(&sim, &b, data.path()).await;
}
