//! The driver against a REAL one-node cluster: corosync on 127.0.0.1
//! (knet) and pacemakerd, started by this test, with the stand-in agents
//! (Dummy, Filesystem on tmpfs, IPaddr2 on lo, anything running sleep,
//! fence_dummy) and fencing enabled. The driver applies the group, the
//! cluster starts it in order, a second apply writes nothing, stop and
//! remove take it out, and the status follows every stage.
//!
//! It needs root (corosync, mounts, addresses on lo) and the packages of
//! `scripts/setup`; without them it says so and passes without running.
//! Pacemaker keeps its state in fixed places (/var/lib/pacemaker,
//! /run/crm, /run/corosync.pid, /var/lib/corosync), so one cluster at a
//! time runs on a machine: a lock file serialises runs, and a cluster not
//! started by this test makes it fail rather than be disturbed. What the
//! cluster wrote there is removed afterwards and what was there before is
//! put back; the daemons are stopped by their PIDs, also when the test
//! fails.
//!
//! Fencing stays enabled. The fence devices are `fence_dummy`: the one
//! for the pair's other node (which never joins) runs here, the one for
//! this node cannot run anywhere (a node never runs its own device), as
//! on a real pair with one host down. No fencing is ever needed here: a
//! one-node cluster that loses its node has no one left to fence it.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dbaas_pacemaker::{
    AbsolutePath, Agents, Applied, DatabaseName, Driver, GroupState, LocalRunner, NodeName,
    StandIn, WaitPolicy,
};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{Pid, User};

/// The node name of the one-node cluster (corosync's nodelist).
const NODE: &str = "dbaas-test-node1";
/// The pair's other node: named in the fragment (its fence device runs
/// here), never part of the cluster.
const PEER: &str = "dbaas-test-node2";
/// The stand-in floating IP, added to lo while the group runs.
const FLOATING_IP: [u8; 4] = [127, 0, 83, 17];
/// Generous bounds: the machine is shared and slow; nothing is timed.
const CLUSTER_UP: Duration = Duration::from_secs(180);
const SETTLE: Duration = Duration::from_secs(300);
const DAEMON_STOP: Duration = Duration::from_secs(180);

const PACEMAKER_STATE: &str = "/var/lib/pacemaker";
const STATE_DIRS: [&str; 4] = ["cib", "pengine", "blackbox", "cores"];
/// Files and directories the daemons (and mount(8), for the tmpfs) create
/// outside the state directories; each is removed afterwards unless it
/// existed before. /run/mount is libmount's, so it goes only when empty.
const RUN_FILES: [&str; 4] = [
    "/run/crm",
    "/run/corosync.pid",
    "/var/lib/corosync/ringid_1",
    "/run/mount",
];

fn sbin(tool: &str) -> PathBuf {
    Path::new("/usr/sbin").join(tool)
}

fn tool(tool: &str, args: &[&str]) -> std::process::Output {
    Command::new(sbin(tool))
        .args(args)
        .env_remove("CIB_file")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"))
}

fn tool_ok(name: &str, args: &[&str]) -> String {
    let out = tool(name, args);
    assert!(
        out.status.success(),
        "{name} {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Processes whose command name is `name` (from /proc/PID/comm).
fn processes_named(name: &str) -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .collect()
}

/// Why this machine cannot run the cluster, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("corosync, mounts and addresses on lo need root".into());
    }
    // modprobe: the Filesystem agent refuses to start without it (kmod).
    for t in [
        "corosync",
        "pacemakerd",
        "cibadmin",
        "crm_mon",
        "fence_dummy",
        "modprobe",
    ] {
        if !sbin(t).exists() {
            return Some(format!("{t} is not installed (scripts/setup)"));
        }
    }
    if User::from_name("hacluster").ok().flatten().is_none() {
        return Some("the hacluster user is missing (package pacemaker)".into());
    }
    None
}

/// A running one-node cluster. Dropping it stops the daemons by PID and
/// puts the machine's Pacemaker state back as it was.
struct Cluster {
    dir: tempfile::TempDir,
    corosync: Option<Child>,
    pacemakerd: Option<Child>,
    /// Where the state files found before the start were moved.
    saved: PathBuf,
    /// Whether each of RUN_FILES existed before.
    run_existed: Vec<bool>,
    shm_before: Vec<String>,
    mounts: Vec<String>,
    _lock: Flock<File>,
}

impl Cluster {
    fn start(mounts: Vec<String>) -> Cluster {
        let lock = File::create("/tmp/dbaas-pacemaker-cluster-test.lock").unwrap();
        let lock = Flock::lock(lock, FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("cannot lock: {e}"));
        for daemon in ["corosync", "pacemakerd"] {
            let pids = processes_named(daemon);
            assert!(
                pids.is_empty(),
                "{daemon} already runs here ({pids:?}), not started by this test: \
                 refusing to start a second cluster over its state"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("dbaas-pacemaker-cluster-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let saved = d.join("saved-state");
        let hacluster = User::from_name("hacluster").unwrap().unwrap();
        let mut cluster = Cluster {
            corosync: None,
            pacemakerd: None,
            run_existed: RUN_FILES.iter().map(|p| Path::new(p).exists()).collect(),
            shm_before: shm_entries(),
            saved,
            mounts,
            _lock: lock,
            dir,
        };
        // Whatever an earlier cluster left is set aside (and put back at
        // the end), so that this cluster starts from the seed CIB only.
        for sub in STATE_DIRS {
            let from = Path::new(PACEMAKER_STATE).join(sub);
            let to = cluster.saved.join(sub);
            fs::create_dir_all(&to).unwrap();
            for entry in fs::read_dir(&from).into_iter().flatten().flatten() {
                fs::rename(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
        let d = cluster.dir.path().to_owned();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(
            d.join("corosync.conf"),
            format!(
                "totem {{\n  version: 2\n  cluster_name: dbaas-test\n  transport: knet\n  \
                 crypto_cipher: none\n  crypto_hash: none\n  token: 3000\n}}\n\
                 logging {{\n  to_stderr: yes\n  to_logfile: yes\n  logfile: {log}\n  \
                 to_syslog: no\n  timestamp: on\n}}\n\
                 quorum {{\n  provider: corosync_votequorum\n}}\n\
                 nodelist {{\n  node {{\n    name: {NODE}\n    nodeid: 1\n    ring0_addr: 127.0.0.1\n  }}\n}}\n",
                log = d.join("corosync.log").display()
            ),
        )
        .unwrap();
        // The seed CIB: a fast DC election for a one-node test; fencing
        // stays at its default (enabled) — the fragment sets it anyway.
        let seed = d.join("seed.xml");
        fs::write(&seed, tool_ok("cibadmin", &["--empty"])).unwrap();
        let out = Command::new(sbin("crm_attribute"))
            .args([
                "--type",
                "crm_config",
                "--name",
                "dc-deadtime",
                "--update",
                "2s",
            ])
            .env("CIB_file", &seed)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let cib = Path::new(PACEMAKER_STATE).join("cib/cib.xml");
        fs::copy(&seed, &cib).unwrap();
        chown(
            &cib,
            Some(hacluster.uid.as_raw()),
            Some(hacluster.gid.as_raw()),
        )
        .unwrap();
        fs::set_permissions(&cib, fs::Permissions::from_mode(0o600)).unwrap();
        let log = d.join("pacemaker.log");
        fs::write(&log, "").unwrap();
        chown(
            &log,
            Some(hacluster.uid.as_raw()),
            Some(hacluster.gid.as_raw()),
        )
        .unwrap();

        let spawn = |program: &str, args: &[&str], out: &str| -> Child {
            let mut cmd = Command::new(sbin(program));
            cmd.args(args)
                .env("PCMK_logfile", &log)
                .stdin(Stdio::null())
                .stdout(File::create(d.join(out)).unwrap())
                .stderr(File::create(d.join(format!("{out}.err"))).unwrap())
                // Its own process group: the daemons' children can be
                // signalled together if the daemon itself does not stop.
                .process_group(0);
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
        };
        let conf = d.join("corosync.conf");
        cluster.corosync = Some(spawn(
            "corosync",
            &["-f", "-c", conf.to_str().unwrap()],
            "corosync.out",
        ));
        cluster.wait("corosync quorum", CLUSTER_UP, || {
            tool("corosync-quorumtool", &["-s"]).status.success()
        });
        cluster.pacemakerd = Some(spawn("pacemakerd", &[], "pacemakerd.out"));
        cluster.wait("the node online with a DC", CLUSTER_UP, || {
            let out = tool("crm_mon", &["--one-shot", "--output-as=xml"]);
            let text = String::from_utf8_lossy(&out.stdout);
            out.status.success()
                && text.contains(r#"<current_dc present="true""#)
                && text.contains(&format!(r#"<node name="{NODE}" id="1" online="true""#))
        });
        cluster
    }

    /// Polls `ready` until it holds, or fails the test after `limit`
    /// (printing the daemons' logs).
    fn wait(&self, what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ready() {
            if start.elapsed() > limit {
                let log = |f: &str| fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                let tail = |s: String| s.lines().rev().take(40).collect::<Vec<_>>().join("\n");
                panic!(
                    "no {what} after {limit:?}\n--- corosync.log (reversed tail)\n{}\n--- pacemaker.log (reversed tail)\n{}",
                    tail(log("corosync.log")),
                    tail(log("pacemaker.log"))
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop_daemon(child: &mut Option<Child>) {
        let Some(mut child) = child.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                _ if start.elapsed() > DAEMON_STOP => {
                    // Its process group (the same number as its PID, made
                    // by process_group(0)): the daemon and its children.
                    let _ = killpg(pid, Signal::SIGKILL);
                    let _ = child.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

fn shm_entries() -> Vec<String> {
    fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // pacemakerd stops the resources (in order), then its daemons.
        Cluster::stop_daemon(&mut self.pacemakerd);
        Cluster::stop_daemon(&mut self.corosync);
        // Safety nets for a cluster killed before it stopped the group.
        let mounted = fs::read_to_string("/proc/mounts").unwrap_or_default();
        for m in &self.mounts {
            if mounted.lines().any(|l| l.split(' ').nth(1) == Some(m)) {
                let _ = Command::new("umount").arg(m).status();
            }
        }
        let ip = format!("{}/32", std::net::Ipv4Addr::from(FLOATING_IP));
        let _ = Command::new("ip")
            .args(["addr", "del", &ip, "dev", "lo"])
            .stderr(Stdio::null())
            .status();
        // What the cluster wrote under /var/lib/pacemaker goes; what was
        // there before comes back.
        for sub in STATE_DIRS {
            let dir = Path::new(PACEMAKER_STATE).join(sub);
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let _ = fs::remove_file(entry.path());
            }
            for entry in fs::read_dir(self.saved.join(sub))
                .into_iter()
                .flatten()
                .flatten()
            {
                let _ = fs::rename(entry.path(), dir.join(entry.file_name()));
            }
        }
        for (path, existed) in RUN_FILES.iter().zip(&self.run_existed) {
            let path = Path::new(path);
            if !existed {
                if path == Path::new("/run/mount") {
                    let _ = fs::remove_dir(path);
                } else if path.is_dir() {
                    let _ = fs::remove_dir_all(path);
                } else {
                    let _ = fs::remove_file(path);
                }
            }
        }
        // libqb's IPC buffers of the daemons (qb-*), if any survived.
        for name in shm_entries() {
            if name.starts_with("qb-") && !self.shm_before.contains(&name) {
                let _ = fs::remove_file(Path::new("/dev/shm").join(name));
            }
        }
    }
}

fn cib_epoch() -> u64 {
    let cib = tool_ok("cibadmin", &["--query"]);
    let head = cib.lines().next().unwrap();
    head.split(" epoch=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("no epoch in {head}"))
}

/// The call ids of each resource's last start on the node, from
/// crm_mon's node history: a lower call id started earlier.
fn start_calls(ids: &[String]) -> Vec<u64> {
    let xml = tool_ok("crm_mon", &["--one-shot", "--output-as=xml"]);
    ids.iter()
        .map(|id| {
            let (_, rest) = xml
                .split_once(&format!(r#"<resource_history id="{id}""#))
                .unwrap_or_else(|| panic!("no history of {id}:\n{xml}"));
            let history = rest.split("</resource_history>").next().unwrap();
            history
                .split("<operation_history ")
                .filter(|op| op.contains(r#"task="start""#))
                .filter_map(|op| op.split("call=\"").nth(1)?.split('"').next()?.parse().ok())
                .max()
                .unwrap_or_else(|| panic!("{id} never started:\n{xml}"))
        })
        .collect()
}

fn mounted(dir: &str) -> bool {
    fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(dir))
}

fn ip_on_lo() -> bool {
    let out = Command::new("ip")
        .args(["-o", "addr", "show", "dev", "lo"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .contains(&format!("{}/32", std::net::Ipv4Addr::from(FLOATING_IP)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driver_runs_a_stand_in_group_on_a_real_one_node_cluster() {
    if let Some(why) = missing_prerequisite() {
        eprintln!("SKIPPED: a real cluster cannot run here: {why}");
        return;
    }
    let began = Instant::now();
    // The sample group, on this cluster's node, mounting under /tmp.
    let mut group = common::sample();
    group.database = DatabaseName::parse("cluster-test-db").unwrap();
    group.nodes[0].name = NodeName::parse(NODE).unwrap();
    group.nodes[1].name = NodeName::parse(PEER).unwrap();
    let mounts_dir = tempfile::Builder::new()
        .prefix("dbaas-pacemaker-mounts-")
        .tempdir_in("/tmp")
        .unwrap();
    let data = format!("{}/data", mounts_dir.path().display());
    let wal = format!("{}/wal", mounts_dir.path().display());
    group.data.directory = AbsolutePath::parse(&data).unwrap();
    group.wal.directory = AbsolutePath::parse(&wal).unwrap();
    let stand_in = StandIn::new(FLOATING_IP.into()).unwrap();
    let fragment = group.fragment(&Agents::StandIn(stand_in)).unwrap();

    let cluster = tokio::task::spawn_blocking({
        let mounts = vec![data.clone(), wal.clone()];
        move || Cluster::start(mounts)
    })
    .await
    .unwrap();
    let up = began.elapsed();
    // Host provisioning: the node belongs to the pair.
    tool_ok(
        "crm_attribute",
        &[
            "--node",
            NODE,
            "--name",
            dbaas_pacemaker::PAIR_ATTRIBUTE,
            "--update",
            common::PAIR,
        ],
    );

    let driver = Driver::new(LocalRunner::new()).with_wait(WaitPolicy {
        timeout: SETTLE,
        poll: Duration::from_millis(500),
    });
    let db = &group.database;
    let wait_state = |want: GroupState| {
        let driver = &driver;
        async move {
            let start = Instant::now();
            loop {
                let status = driver.status(db).await.unwrap();
                if status.state() == want {
                    return status;
                }
                // A failure will not go away by itself: say so now rather
                // than at the time limit.
                assert!(
                    status.state() != GroupState::Failed,
                    "the group failed while waiting for {want:?}: {status:#?}\n{}",
                    tool_ok("crm_mon", &["--one-shot", "--inactive"])
                );
                assert!(
                    start.elapsed() < SETTLE,
                    "the group never reached {want:?}: {status:#?}\n{}",
                    tool_ok("crm_mon", &["--one-shot", "--inactive"])
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };

    // Before: the cluster does not know the database.
    assert_eq!(driver.status(db).await.unwrap().state(), GroupState::Absent);

    // Apply: written once, and the cluster starts the group in order.
    let applied = driver.apply(&fragment).await.unwrap();
    assert!(matches!(applied, Applied::Changed { .. }), "{applied:?}");
    let status = wait_state(GroupState::Started(NODE.into())).await;
    let members = group.member_ids();
    let ids: Vec<&str> = status.resources.iter().map(|r| r.id.as_str()).collect();
    let expected: Vec<&str> = members.iter().map(String::as_str).collect();
    assert_eq!(ids, expected, "{status:#?}");
    assert!(status.resources.iter().all(|r| !r.failed), "{status:#?}");
    let calls = start_calls(&members);
    assert!(
        calls.windows(2).all(|w| w[0] < w[1]),
        "members did not start in group order: {members:?} {calls:?}"
    );
    assert!(mounted(&data) && mounted(&wal) && ip_on_lo());
    // Fencing is on and the device for the pair's other node runs here
    // (the one for this node may not run on it).
    let crm_mon = tool_ok("crm_mon", &["--one-shot", "--output-as=xml", "--inactive"]);
    assert!(crm_mon.contains(r#"stonith-enabled="true""#), "{crm_mon}");
    assert!(
        crm_mon.contains(&format!(
            r#"<resource id="fence-{PEER}" resource_agent="stonith:fence_dummy" role="Started""#
        )),
        "{crm_mon}"
    );

    // Apply again: nothing is written, the epoch does not move.
    let epoch = cib_epoch();
    assert_eq!(driver.apply(&fragment).await.unwrap(), Applied::Unchanged);
    assert_eq!(cib_epoch(), epoch);
    assert_eq!(
        driver.status(db).await.unwrap().state(),
        GroupState::Started(NODE.into())
    );

    // Stop: the group stays in the CIB, disabled, every member stopped,
    // the mounts and the address gone.
    assert!(driver.stop(db).await.unwrap());
    let status = driver.status(db).await.unwrap();
    assert_eq!(status.state(), GroupState::Stopped, "{status:#?}");
    assert!(status.present && status.disabled, "{status:#?}");
    assert!(!mounted(&data) && !mounted(&wal) && !ip_on_lo());

    // Remove: the group, its constraints and (last database of the pair)
    // the fence devices and the openstack-info clone leave the CIB;
    // fencing stays enabled.
    driver.remove(db).await.unwrap();
    wait_state(GroupState::Absent).await;
    let configuration = tool_ok("cibadmin", &["--query", "--scope", "configuration"]);
    for gone in [
        "g-cluster-test-db",
        "cluster-test-db-volume",
        "fence-dbaas-test-node",
        "openstack-info-clone",
    ] {
        assert!(!configuration.contains(gone), "{gone}:\n{configuration}");
    }
    assert!(
        configuration.contains(r#"name="stonith-enabled" value="true""#),
        "{configuration}"
    );
    // Removing again is a no-op.
    let epoch = cib_epoch();
    driver.remove(db).await.unwrap();
    assert_eq!(cib_epoch(), epoch);

    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
    eprintln!(
        "real cluster test: cluster up in {up:?}, whole test {:?}",
        began.elapsed()
    );
}
