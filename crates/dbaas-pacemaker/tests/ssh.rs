//! The SSH runner against a real sshd: an OpenSSH server started here on a
//! random port of 127.0.0.1 with its own host key and one authorised key,
//! both generated in a temporary directory. Checks that argument vectors
//! arrive intact whatever they hold, that the host key is enforced, that
//! failures to connect are errors and not command results, and that the
//! driver applies, reads and removes a database through SSH on a CIB file.
//!
//! Skipped (with a printed SKIPPED) only when sshd cannot be started here;
//! `scripts/setup` installs it (Debian's openssh-server).

mod common;

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dbaas_drivers::ha::HaGroupDriver;
use dbaas_pacemaker::{
    ssh_pair, AbsolutePath, Agents, Applied, CloudName, CommandRunner, Credentials, Driver,
    FirstReachable, GroupState, HostKeyPolicy, PacemakerHa, PairName, SshRunner,
};

const SSHD: &str = "/usr/sbin/sshd";

/// An sshd on 127.0.0.1, killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    user: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "dbaas-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen (openssh-client)");
    assert!(out.status.success(), "{out:?}");
}

fn abs(path: &Path) -> AbsolutePath {
    AbsolutePath::parse(path.to_str().unwrap()).unwrap()
}

impl Sshd {
    /// Starts sshd, or says why it cannot run here.
    fn start() -> Result<Sshd, String> {
        if !Path::new(SSHD).exists() {
            return Err(format!("{SSHD} is not installed (openssh-server)"));
        }
        let euid = nix::unistd::geteuid();
        let user = nix::unistd::User::from_uid(euid)
            .ok()
            .flatten()
            .ok_or("the current user has no name")?
            .name;
        if euid.is_root() {
            // Privilege separation needs its empty directory.
            fs::create_dir_all("/run/sshd").map_err(|e| format!("/run/sshd: {e}"))?;
        }
        // Under /tmp, so that the path is short and plain (the runner's
        // paths are checked).
        let dir = tempfile::Builder::new()
            .prefix("dbaas-ssh-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let mut last_error = String::new();
        // A port picked free can be taken before sshd binds it: try again.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = d.join("sshd_config");
            let text = [
                format!("Port {port}"),
                "ListenAddress 127.0.0.1".into(),
                format!("HostKey {}", d.join("host_key").display()),
                format!("PidFile {}", d.join("sshd.pid").display()),
                format!("AuthorizedKeysFile {}", d.join("authorized_keys").display()),
                "PermitRootLogin prohibit-password".into(),
                "PubkeyAuthentication yes".into(),
                "PasswordAuthentication no".into(),
                "KbdInteractiveAuthentication no".into(),
                "UsePAM no".into(),
                // The temporary directory is not owned the way sshd
                // insists on for a home directory.
                "StrictModes no".into(),
                "LogLevel ERROR".into(),
            ]
            .join("\n");
            fs::write(&config, text + "\n").unwrap();
            let log = fs::File::create(d.join("sshd.log")).unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot start {SSHD}: {e}"))?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!(
                        "sshd exited ({status}): {}",
                        fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
                    );
                    break;
                }
                if banner(port) {
                    return Ok(Sshd {
                        child,
                        port,
                        dir,
                        user,
                    });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = "sshd did not answer within 10 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Err(last_error)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A known_hosts file that holds this server's host key.
    fn known_hosts(&self) -> PathBuf {
        let key = fs::read_to_string(self.path("host_key.pub")).unwrap();
        let mut words = key.split_whitespace();
        let (kind, blob) = (words.next().unwrap(), words.next().unwrap());
        let file = self.path("known_hosts");
        fs::write(&file, format!("[127.0.0.1]:{} {kind} {blob}\n", self.port)).unwrap();
        file
    }

    fn runner(&self) -> SshRunner {
        SshRunner::new(
            "127.0.0.1",
            &self.user,
            abs(&self.path("client_key")),
            HostKeyPolicy::Strict(abs(&self.known_hosts())),
        )
        .unwrap()
        .port(self.port)
        .connect_timeout(Duration::from_secs(5))
    }
}

/// Whether an SSH server answers on `port` with its banner.
fn banner(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0")
}

macro_rules! sshd_or_skip {
    () => {
        match Sshd::start() {
            Ok(sshd) => sshd,
            Err(why) => {
                eprintln!("SKIPPED: sshd cannot run here: {why}");
                return;
            }
        }
    };
}

/// Arguments that a shell would split, expand, run or reinterpret.
fn hostile_arguments() -> Vec<String> {
    [
        "",
        " ",
        "two words",
        "it's",
        "'",
        "''",
        "\"",
        "'\"'\"'",
        "\\",
        "\\'",
        "$(touch PWNED)",
        "`touch PWNED`",
        "${HOME}",
        "$HOME",
        "a; touch PWNED",
        "a && touch PWNED",
        "a | touch PWNED",
        "> PWNED",
        "line one\nline two",
        "\n",
        "tab\there",
        "*",
        "?",
        "[a-z]",
        "~",
        "~root",
        "-n",
        "--",
        "#not a comment",
        "!",
        "%s %n",
        "é ☃ \u{202e}",
        r#"<diff format="2"><change operation="delete" path="/cib/configuration/resources/group[@id='g-db']"/></diff>"#,
        "&amp; &lt; &apos;",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[tokio::test]
async fn every_argument_arrives_intact_as_one_word() {
    let sshd = sshd_or_skip!();
    let runner = sshd.runner();
    let args = hostile_arguments();
    // printf repeats its format for every argument: each arrives as one
    // word followed by a NUL, so the words can be told apart exactly.
    let mut printf = vec!["%s\\0".to_owned()];
    printf.extend(args.iter().cloned());
    // Run in the temporary directory, so that a command injected despite
    // the quoting would leave PWNED where this test looks.
    let runner = runner.timeout(Duration::from_secs(30));
    let out = runner
        .run(
            "sh",
            &[
                "-c".into(),
                "cd \"$1\" && shift && exec printf \"$@\"".into(),
                "sh".into(),
                sshd.dir.path().to_str().unwrap().into(),
            ]
            .into_iter()
            .chain(printf)
            .collect::<Vec<String>>(),
        )
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    let words: Vec<&str> = out
        .stdout
        .strip_suffix('\0')
        .unwrap_or_else(|| panic!("no trailing NUL: {:?}", out.stdout))
        .split('\0')
        .collect();
    assert_eq!(words, args);
    assert!(
        !sshd.path("PWNED").exists(),
        "a command hidden in an argument was run"
    );
}

#[tokio::test]
async fn environment_values_arrive_intact() {
    let sshd = sshd_or_skip!();
    let value = "a b 'c' \"d\" $(touch PWNED) `x` ; \n <e f='g'/> é";
    let runner = sshd.runner().env("DBAAS_TEST_VALUE", value).unwrap();
    let out = runner
        .run("printenv", &["DBAAS_TEST_VALUE".into()])
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, format!("{value}\n"));
    // The Pacemaker tools are found without a full path.
    let out = runner.run("printenv", &["PATH".into()]).await.unwrap();
    assert!(out.stdout.split(':').any(|p| p == "/usr/sbin"), "{out:?}");
}

#[tokio::test]
async fn exit_codes_and_output_of_the_remote_command_are_returned() {
    let sshd = sshd_or_skip!();
    let runner = sshd.runner();
    let out = runner
        .run(
            "sh",
            &["-c".into(), "echo out; echo err >&2; exit 3".into()],
        )
        .await
        .unwrap();
    assert_eq!(out.code, Some(3));
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");

    let out = runner.run("crm_verify", &["--version".into()]).await;
    let out = out.expect("crm_verify runs through ssh (scripts/setup installs it)");
    assert!(out.success(), "{out:?}");
    assert!(out.stdout.starts_with("Pacemaker "), "{out:?}");

    let err = runner
        .run("no-such-program-here", &[])
        .await
        .expect_err("a missing program is an error, not an output");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn a_host_with_an_unknown_key_is_refused() {
    let sshd = sshd_or_skip!();
    // A known_hosts file naming another key for this host: a
    // man-in-the-middle, as far as ssh can tell.
    keygen(&sshd.path("other_key"));
    let other = fs::read_to_string(sshd.path("other_key.pub")).unwrap();
    let mut words = other.split_whitespace();
    let (kind, blob) = (words.next().unwrap(), words.next().unwrap());
    let wrong = sshd.path("wrong_known_hosts");
    fs::write(&wrong, format!("[127.0.0.1]:{} {kind} {blob}\n", sshd.port)).unwrap();
    let marker = sshd.path("ran");
    let runner = SshRunner::new(
        "127.0.0.1",
        &sshd.user,
        abs(&sshd.path("client_key")),
        HostKeyPolicy::Strict(abs(&wrong)),
    )
    .unwrap()
    .port(sshd.port);
    let err = runner
        .run("touch", &[marker.to_str().unwrap().into()])
        .await
        .expect_err("a changed host key must stop the command");
    assert!(err.to_string().contains("host key"), "{err}");
    assert!(!marker.exists());

    // A host not in the file at all: refused too under Strict...
    let empty = sshd.path("empty_known_hosts");
    fs::write(&empty, "").unwrap();
    let strict = SshRunner::new(
        "127.0.0.1",
        &sshd.user,
        abs(&sshd.path("client_key")),
        HostKeyPolicy::Strict(abs(&empty)),
    )
    .unwrap()
    .port(sshd.port);
    assert!(strict.run("true", &[]).await.is_err());
    // ...and recorded on first use under AcceptNew.
    let accept = SshRunner::new(
        "127.0.0.1",
        &sshd.user,
        abs(&sshd.path("client_key")),
        HostKeyPolicy::AcceptNew(abs(&empty)),
    )
    .unwrap()
    .port(sshd.port);
    assert!(accept.run("true", &[]).await.unwrap().success());
    let recorded = fs::read_to_string(&empty).unwrap();
    let host_key = fs::read_to_string(sshd.path("host_key.pub")).unwrap();
    let blob = host_key.split_whitespace().nth(1).unwrap();
    assert!(recorded.contains(blob), "{recorded}");
}

#[tokio::test]
async fn a_key_that_is_not_authorised_is_refused() {
    let sshd = sshd_or_skip!();
    keygen(&sshd.path("stranger_key"));
    let runner = SshRunner::new(
        "127.0.0.1",
        &sshd.user,
        abs(&sshd.path("stranger_key")),
        HostKeyPolicy::Strict(abs(&sshd.known_hosts())),
    )
    .unwrap()
    .port(sshd.port);
    let err = runner.run("true", &[]).await.unwrap_err();
    assert!(err.to_string().contains("Permission denied"), "{err}");
}

#[tokio::test]
async fn an_unreachable_host_is_an_error_within_the_connect_timeout() {
    let sshd = sshd_or_skip!();
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = sshd.runner().port(closed);
    let began = Instant::now();
    let err = down.run("true", &[]).await.unwrap_err();
    assert!(began.elapsed() < Duration::from_secs(10), "{err}");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

    // Over a pair, the other host answers.
    let pair = FirstReachable::new(vec![down, sshd.runner()]);
    let out = pair.run("echo", &["here".into()]).await.unwrap();
    assert_eq!(out.stdout, "here\n");
}

/// A two-node CIB file with the pair attribute, as `tests/driver_file.rs`
/// makes it, written with the local tools.
fn pair_cib(dir: &Path) -> PathBuf {
    let tool = |cib: &Path, args: &[&str]| {
        let out = Command::new(Path::new("/usr/sbin").join(args[0]))
            .args(&args[1..])
            .env("CIB_file", cib)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        out.stdout
    };
    let cib = dir.join("cib.xml");
    let empty = Command::new("/usr/sbin/cibadmin")
        .arg("--empty")
        .output()
        .unwrap();
    fs::write(&cib, empty.stdout).unwrap();
    for (id, node) in [(1, common::NODE_A), (2, common::NODE_B)] {
        let xml = format!(r#"<node id="{id}" uname="{node}"/>"#);
        tool(&cib, &["cibadmin", "--create", "-o", "nodes", "-X", &xml]);
        tool(
            &cib,
            &[
                "crm_attribute",
                "--node",
                node,
                "--name",
                dbaas_pacemaker::PAIR_ATTRIBUTE,
                "--update",
                common::PAIR,
            ],
        );
    }
    // Both nodes online, as a running pair (crm_verify would otherwise
    // warn that every node is unclean).
    let running = dir.join("cib-running.xml");
    let out = Command::new("/usr/sbin/crm_simulate")
        .args(["-x", cib.to_str().unwrap(), "--quorum", "1"])
        .args(["--node-up", common::NODE_A, "--node-up", common::NODE_B])
        .args(["--save-output", running.to_str().unwrap()])
        .env_remove("CIB_file")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    running
}

fn epoch(cib: &Path) -> u64 {
    let text = fs::read_to_string(cib).unwrap();
    let head = text.lines().next().unwrap();
    head.split(" epoch=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|e| e.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn the_driver_applies_reads_and_removes_through_ssh() {
    let sshd = sshd_or_skip!();
    let cib = pair_cib(sshd.dir.path());
    let runner = sshd.runner().with_cib_file(&abs(&cib));
    let driver = Driver::new(runner);
    let group = common::sample();
    let fragment = group.fragment(&Agents::Production).unwrap();

    let before = epoch(&cib);
    assert_eq!(
        driver.apply(&fragment).await.unwrap(),
        Applied::Changed { epoch: before + 1 }
    );
    let text = fs::read_to_string(&cib).unwrap();
    assert!(text.contains(r#"<group id="g-orders-db">"#), "{text}");
    assert!(
        text.contains(r#"name="stonith-enabled" value="true""#),
        "{text}"
    );
    let verify = Command::new("/usr/sbin/crm_verify")
        .args(["-x", cib.to_str().unwrap(), "-V"])
        .env_remove("CIB_file")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");

    // Applied again through SSH: nothing written.
    assert_eq!(driver.apply(&fragment).await.unwrap(), Applied::Unchanged);
    assert_eq!(epoch(&cib), before + 1);

    assert_eq!(
        driver.status(&group.database).await.unwrap().state(),
        GroupState::Stopped,
        "a CIB file runs nothing"
    );
    driver.remove(&group.database).await.unwrap();
    let left = fs::read_to_string(&cib).unwrap();
    assert!(!left.contains("g-orders-db"), "{left}");
    assert_eq!(
        driver.status(&group.database).await.unwrap().state(),
        GroupState::Absent
    );
    let at = epoch(&cib);
    driver.remove(&group.database).await.unwrap();
    assert_eq!(epoch(&cib), at, "removing what is gone writes nothing");
}

#[tokio::test]
async fn the_ha_driver_reaches_a_pair_through_its_first_reachable_host() {
    let sshd = sshd_or_skip!();
    let cib = pair_cib(sshd.dir.path());
    // As configured for a pair: its two hosts, the SSH user, key and
    // known_hosts. The first host is down (nothing listens on 127.0.0.2).
    let runner = ssh_pair(
        &["127.0.0.2", "127.0.0.1"],
        sshd.port,
        &sshd.user,
        &abs(&sshd.path("client_key")),
        &HostKeyPolicy::Strict(abs(&sshd.known_hosts())),
    )
    .unwrap()
    .with_cib_file(&abs(&cib));
    let ha = PacemakerHa::new(Credentials::Cloud(CloudName::parse("dbaas").unwrap()))
        .pair(PairName::parse(common::PAIR).unwrap(), Driver::new(runner));
    let group = common::sample();
    let ha_group = dbaas_drivers::ha::HaGroup {
        database: "dbaas-orders-db-0a1b2c3d".into(),
        pair: dbaas_drivers::ha::HostPair {
            id: common::PAIR.into(),
            nodes: group.nodes.clone().map(|n| dbaas_drivers::ha::HaNode {
                name: n.name.to_string(),
                server_id: n.server.to_string(),
            }),
        },
        volume_id: group.volume.to_string(),
        data: dbaas_drivers::ha::HaMount {
            device: group.data.device.as_str().into(),
            directory: group.data.directory.as_str().into(),
            fstype: group.data.fstype.to_string(),
        },
        wal: dbaas_drivers::ha::HaMount {
            device: group.wal.device.as_str().into(),
            directory: group.wal.directory.as_str().into(),
            fstype: group.wal.fstype.to_string(),
        },
        floating_ip: dbaas_drivers::ha::HaFloatingIp {
            id: group.floating_ip.ip_id.to_string(),
            address: "203.0.113.10".parse().unwrap(),
            subnet_id: group.floating_ip.subnet_id.to_string(),
        },
    };
    let before = epoch(&cib);
    ha.ensure(&ha_group).await.unwrap();
    ha.ensure(&ha_group).await.unwrap();
    assert_eq!(epoch(&cib), before + 1);
    assert_eq!(ha.list().await.unwrap(), ["dbaas-orders-db-0a1b2c3d"]);
    ha.remove("dbaas-orders-db-0a1b2c3d").await.unwrap();
    assert!(ha.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_command_that_hangs_is_given_up_after_the_timeout() {
    let sshd = sshd_or_skip!();
    let runner = sshd.runner().timeout(Duration::from_secs(2));
    let began = Instant::now();
    let err = runner.run("sleep", &["30".into()]).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(began.elapsed() < Duration::from_secs(10), "{err}");
}
