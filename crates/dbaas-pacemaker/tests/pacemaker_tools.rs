//! The rendered fragment checked by the real Pacemaker tools, offline: it
//! is merged into a two-node CIB file with `cibadmin`, validated with
//! `crm_verify` (fencing enabled) and run through `crm_simulate`. No
//! cluster is started and nothing is contacted: every tool works on a file
//! (`CIB_file` / `-x`). The tools come from `scripts/setup`.
//!
//! None of these tools runs a resource agent: `crm_verify` checks the CIB
//! against the schema and the scheduler's rules, and `crm_simulate`
//! pretends every action succeeds. So the agents (openstack-cinder-volume,
//! fence_openstack, ...) need not be installed for these tests; the
//! parameter names are checked against the agents' metadata where the
//! agents are installed (`ocf_parameters_exist_in_agent_metadata`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{NODE_A, NODE_B, PAIR};

/// Runs a Pacemaker tool, with `CIB_file` pointing at `cib` when given,
/// and returns its output whatever its exit status.
fn run(tool: &str, args: &[&str], cib: Option<&Path>) -> Output {
    let command = |program: &Path| {
        let mut cmd = Command::new(program);
        cmd.args(args);
        // Never let a tool reach a live cluster: with CIB_file set the CIB
        // tools work on the file; without, they are given -x.
        cmd.env_remove("CIB_file");
        if let Some(cib) = cib {
            cmd.env("CIB_file", cib);
        }
        cmd.output()
    };
    // The tools are in /usr/sbin, which is not on every user's PATH.
    let result = match command(Path::new(tool)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !tool.contains('/') => {
            command(&Path::new("/usr/sbin").join(tool))
        }
        other => other,
    };
    result.unwrap_or_else(|e| {
        panic!("cannot run {tool}: {e}; the Pacemaker tools are installed by scripts/setup")
    })
}

/// Runs a tool that must succeed and returns its standard output.
fn ok(tool: &str, args: &[&str], cib: Option<&Path>) -> String {
    let out = run(tool, args, cib);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The node entries of the two-node base CIB. Constant text: the node ids
/// are what corosync would assign to the first two nodes.
const NODES: [&str; 2] = [
    r#"<node id="1" uname="db-host-a"/>"#,
    r#"<node id="2" uname="db-host-b"/>"#,
];

/// Builds the CIB a freshly provisioned pair would have — an empty CIB
/// (`cibadmin --empty`), the two nodes, each with the pair attribute — and
/// merges the fragment into it the way the driver will: one
/// `cibadmin --modify --allow-create` of the `configuration` section.
fn cib_with_fragment(dir: &Path) -> PathBuf {
    let cib = dir.join("cib.xml");
    std::fs::write(&cib, ok("cibadmin", &["--empty"], None)).unwrap();
    for node in NODES {
        ok(
            "cibadmin",
            &["--create", "-o", "nodes", "-X", node],
            Some(&cib),
        );
    }
    for node in [NODE_A, NODE_B] {
        ok(
            "crm_attribute",
            &[
                "--node",
                node,
                "--name",
                dbaas_pacemaker::PAIR_ATTRIBUTE,
                "--update",
                PAIR,
            ],
            Some(&cib),
        );
    }
    // The pair as it runs before any database: both nodes online, with
    // quorum (corosync's two_node mode keeps it with one node, too). The
    // status section is what a live CIB has; without it crm_verify warns
    // that every node is unclean.
    let running = dir.join("cib-running.xml");
    ok(
        "crm_simulate",
        &[
            "-x",
            path_str(&cib),
            "--quorum",
            "1",
            "--node-up",
            NODE_A,
            "--node-up",
            NODE_B,
            "--save-output",
            path_str(&running),
        ],
        None,
    );
    let fragment = common::sample().render().unwrap();
    ok(
        "cibadmin",
        &[
            "--modify",
            "--allow-create",
            "--scope",
            "configuration",
            "--xml-text",
            &fragment,
        ],
        Some(&running),
    );
    running
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn merged_cib_passes_crm_verify_with_fencing_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let cib = cib_with_fragment(dir.path());
    let text = std::fs::read_to_string(&cib).unwrap();
    assert!(
        text.contains(r#"name="stonith-enabled" value="true""#),
        "{text}"
    );
    ok("crm_verify", &["-x", path_str(&cib), "-V"], None);

    // Merging again changes nothing but the CIB's epoch: every id is
    // derived from the values, so the merge finds the existing elements.
    let configuration = |t: &str| {
        let start = t.find("<configuration>").unwrap();
        let end = t.find("</configuration>").unwrap();
        t[start..end].to_owned()
    };
    let fragment = common::sample().render().unwrap();
    ok(
        "cibadmin",
        &[
            "--modify",
            "--allow-create",
            "--scope",
            "configuration",
            "--xml-text",
            &fragment,
        ],
        Some(&cib),
    );
    let again = std::fs::read_to_string(&cib).unwrap();
    assert_eq!(configuration(&text), configuration(&again));
}

#[test]
fn crm_verify_sees_that_fencing_is_required() {
    // The same CIB without the fence devices must fail: this proves the
    // verification above ran with fencing enabled and found the devices.
    let dir = tempfile::tempdir().unwrap();
    let cib = cib_with_fragment(dir.path());
    for node in [NODE_A, NODE_B] {
        let id = format!("fence-{node}");
        let location = format!("fence-{node}-avoids-{node}");
        // Constraints on the device first: crm_verify would otherwise also
        // complain about a constraint naming a missing resource.
        ok(
            "cibadmin",
            &[
                "--delete",
                "--xpath",
                &format!("//rsc_location[@id='{location}']"),
            ],
            Some(&cib),
        );
        ok(
            "cibadmin",
            &["--delete", "--xpath", &format!("//primitive[@id='{id}']")],
            Some(&cib),
        );
    }
    let out = run("crm_verify", &["-x", path_str(&cib), "-V"], None);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "crm_verify accepted a CIB without fence devices:\n{all}"
    );
    assert!(
        all.contains("no STONITH resources have been defined"),
        "{all}"
    );
}

/// The resource actions `crm_simulate -S` executed, in order, as
/// (resource, action, node): the lines `* Resource action: RSC ACTION on
/// NODE` of its "Executing Cluster Transition" section.
fn resource_actions(output: &str) -> Vec<(String, String, String)> {
    let section = output
        .split_once("Executing Cluster Transition")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no transition in:\n{output}"));
    section
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("* Resource action:")?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [rsc, action, "on", node] => {
                    Some((rsc.to_string(), action.to_string(), node.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// Checks that every member of the group started on `node`, in group
/// order, and nothing of the group started elsewhere.
fn assert_group_started_in_order(output: &str, node: &str) {
    let group = common::sample();
    let starts: Vec<(String, String)> = resource_actions(output)
        .into_iter()
        .filter(|(rsc, action, _)| action == "start" && group.member_ids().contains(rsc))
        .map(|(rsc, _, node)| (rsc, node))
        .collect();
    let expected: Vec<(String, String)> = group
        .member_ids()
        .iter()
        .map(|m| (m.clone(), node.to_owned()))
        .collect();
    assert_eq!(starts, expected, "crm_simulate output:\n{output}");
}

/// The node the group runs on after the initial placement.
fn group_node(output: &str) -> String {
    let volume = &common::sample().member_ids()[0];
    resource_actions(output)
        .into_iter()
        .find(|(rsc, action, _)| rsc == volume && action == "start")
        .map(|(_, _, node)| node)
        .unwrap_or_else(|| panic!("{volume} never started:\n{output}"))
}

#[test]
fn crm_simulate_starts_the_group_in_order_then_fails_over_after_fencing() {
    let dir = tempfile::tempdir().unwrap();
    let cib = cib_with_fragment(dir.path());
    let state = dir.path().join("state-1.xml");

    // Both nodes online (a two-node corosync cluster keeps quorum).
    let first = ok(
        "crm_simulate",
        &[
            "-x",
            path_str(&cib),
            "-S",
            "--quorum",
            "1",
            "--node-up",
            NODE_A,
            "--node-up",
            NODE_B,
            "--save-output",
            path_str(&state),
        ],
        None,
    );
    let node = group_node(&first);
    assert_group_started_in_order(&first, &node);
    let actions = resource_actions(&first);
    // openstack-info starts on both nodes, before the group's first member.
    let position = |rsc: &str, action: &str, on: &str| {
        actions
            .iter()
            .position(|(r, a, n)| r.starts_with(rsc) && a == action && n == on)
            .unwrap_or_else(|| panic!("no {action} of {rsc} on {on}:\n{first}"))
    };
    let info_here = position("openstack-info", "start", &node);
    position(
        "openstack-info",
        "start",
        if node == NODE_A { NODE_B } else { NODE_A },
    );
    assert!(info_here < position(&common::sample().member_ids()[0], "start", &node));
    // Each fence device runs on the node it does not fence.
    position(&format!("fence-{NODE_A}"), "start", NODE_B);
    position(&format!("fence-{NODE_B}"), "start", NODE_A);

    // The group's node fails (crm_simulate --node-fail: it drops out of
    // the membership without shutting down): it is fenced, and only then
    // does the group start on the other node.
    let other = if node == NODE_A { NODE_B } else { NODE_A };
    let second = ok(
        "crm_simulate",
        &["-x", path_str(&state), "-S", "--node-fail", &node],
        None,
    );
    let fencing = format!("Fencing {node} (reboot)");
    let fenced_at = second
        .find(&fencing)
        .unwrap_or_else(|| panic!("{node} was not fenced:\n{second}"));
    let first_start = second
        .find(&format!(
            "Resource action: {} start on {other}",
            common::sample().member_ids()[0]
        ))
        .unwrap_or_else(|| panic!("the group did not move to {other}:\n{second}"));
    assert!(fenced_at < first_start, "started before fencing:\n{second}");
    assert_group_started_in_order(&second, other);
}

#[test]
fn crm_simulate_moves_the_group_when_its_node_leaves_cleanly() {
    // crm_simulate --node-down models a node that left the membership in
    // an orderly way (its resources are known stopped): no fencing is
    // needed, and the group starts on the other node in order.
    let dir = tempfile::tempdir().unwrap();
    let cib = cib_with_fragment(dir.path());
    let state = dir.path().join("state-1.xml");
    let first = ok(
        "crm_simulate",
        &[
            "-x",
            path_str(&cib),
            "-S",
            "--save-output",
            path_str(&state),
        ],
        None,
    );
    let node = group_node(&first);
    let other = if node == NODE_A { NODE_B } else { NODE_A };
    let second = ok(
        "crm_simulate",
        &["-x", path_str(&state), "-S", "--node-down", &node],
        None,
    );
    assert!(!second.contains("Fencing "), "{second}");
    assert_group_started_in_order(&second, other);
}

#[test]
fn crm_simulate_keeps_the_group_off_nodes_of_other_pairs() {
    // A third node without the pair attribute joins: the group starts on
    // the pair; when both hosts of the pair fail, they are fenced and the
    // group stays stopped rather than run on the stranger.
    let dir = tempfile::tempdir().unwrap();
    let cib = cib_with_fragment(dir.path());
    ok(
        "cibadmin",
        &[
            "--create",
            "-o",
            "nodes",
            "-X",
            r#"<node id="3" uname="other-host"/>"#,
        ],
        Some(&cib),
    );
    let state = dir.path().join("state-1.xml");
    let first = ok(
        "crm_simulate",
        &[
            "-x",
            path_str(&cib),
            "-S",
            "--quorum",
            "1",
            "--node-up",
            "other-host",
            "--save-output",
            path_str(&state),
        ],
        None,
    );
    let node = group_node(&first);
    assert_ne!(node, "other-host", "{first}");
    assert_group_started_in_order(&first, &node);

    let second = ok(
        "crm_simulate",
        &[
            "-x",
            path_str(&state),
            "-S",
            "--quorum",
            "1",
            "--node-fail",
            NODE_A,
            "--node-fail",
            NODE_B,
        ],
        None,
    );
    for fenced in [NODE_A, NODE_B] {
        assert!(
            second.contains(&format!("Fencing {fenced} (reboot)")),
            "{fenced} was not fenced:\n{second}"
        );
    }
    let group = common::sample();
    assert!(
        !resource_actions(&second)
            .iter()
            .any(|(rsc, action, _)| action == "start" && group.member_ids().contains(rsc)),
        "the group started outside its pair:\n{second}"
    );
}

/// (class, provider, type, parameter names) of every primitive of the
/// rendered fragment, read back with an XML parser.
fn primitives(fragment: &str) -> Vec<(String, String, String, Vec<String>)> {
    use quick_xml::events::Event;
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> String {
        e.try_get_attribute(name)
            .unwrap()
            .map(|a| a.unescape_value().unwrap().into_owned())
            .unwrap_or_default()
    };
    let mut reader = quick_xml::Reader::from_str(fragment);
    let mut found = Vec::new();
    // nvpairs count only inside a primitive's instance_attributes (not the
    // meta_attributes of a group or clone, nor crm_config).
    let mut in_instance_attributes = false;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"primitive" => found.push((
                    attr(&e, "class"),
                    attr(&e, "provider"),
                    attr(&e, "type"),
                    Vec::new(),
                )),
                b"instance_attributes" => in_instance_attributes = true,
                b"nvpair" if in_instance_attributes => {
                    found.last_mut().unwrap().3.push(attr(&e, "name"));
                }
                _ => {}
            },
            Event::End(e) if e.name().as_ref() == b"instance_attributes" => {
                in_instance_attributes = false;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    found
}

/// A parameter an agent's meta-data declares.
struct Declared {
    name: String,
    required: bool,
    deprecated: bool,
}

/// The parameters an agent's meta-data declares, from the opening tags
/// `<parameter name="..." required="1" deprecated="1">`.
fn declared_parameters(metadata: &str) -> Vec<Declared> {
    metadata
        .split("<parameter ")
        .skip(1)
        .filter_map(|rest| {
            let tag = rest.split('>').next()?;
            let name = tag.split("name=\"").nth(1)?.split('"').next()?;
            Some(Declared {
                name: name.to_owned(),
                required: tag.contains("required=\"1\""),
                deprecated: tag.contains("deprecated=\"1\""),
            })
        })
        .collect()
}

#[test]
fn every_parameter_is_declared_by_its_agent() {
    check_parameters(&common::sample().render().unwrap());
}

#[test]
fn every_stand_in_parameter_is_declared_by_its_agent() {
    let stand_in = dbaas_pacemaker::StandIn::new([127, 0, 83, 1].into()).unwrap();
    let fragment = common::sample()
        .render_for(&dbaas_pacemaker::Agents::StandIn(stand_in))
        .unwrap();
    check_parameters(&fragment);
}

fn check_parameters(fragment: &str) {
    // crm_verify does not read agents' meta-data (an unknown parameter
    // passes it silently), so the names are checked against the installed
    // agents' own meta-data: resource-agents for the OCF agents,
    // fence-agents for fence_openstack, and Pacemaker's fencer for the
    // pcmk_* options every fence device takes.
    let fencer = ok("/usr/lib/pacemaker/pacemaker-fenced", &["metadata"], None);
    let fencer_options: Vec<String> = declared_parameters(&fencer)
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert!(
        fencer_options.iter().any(|p| p == "pcmk_host_list"),
        "{fencer}"
    );
    let found = primitives(fragment);
    assert_eq!(found.len(), 9, "{found:?}");
    for (class, provider, agent, params) in found {
        let spec = match class.as_str() {
            "ocf" => format!("ocf:{provider}:{agent}"),
            _ => format!("{class}:{agent}"),
        };
        if class == "systemd" {
            // Units take no parameters, and systemd is not running here to
            // describe them.
            assert!(params.is_empty(), "{spec}: {params:?}");
            continue;
        }
        let declared = declared_parameters(&ok("crm_resource", &["--show-metadata", &spec], None));
        let names: Vec<&str> = declared.iter().map(|d| d.name.as_str()).collect();
        for param in &params {
            if class == "stonith" && param.starts_with("pcmk_") {
                assert!(
                    fencer_options.contains(param),
                    "the fencer has no option {param:?}"
                );
                continue;
            }
            let d = declared
                .iter()
                .find(|d| &d.name == param)
                .unwrap_or_else(|| panic!("{spec} declares no parameter {param:?}: {names:?}"));
            assert!(!d.deprecated, "{spec}: {param:?} is deprecated");
        }
        for d in declared.iter().filter(|d| d.required) {
            assert!(
                params.contains(&d.name),
                "{spec}: required {:?} is missing",
                d.name
            );
        }
    }
}

/// The initial placement of the sample group, saved: (state file, node the
/// group runs on, the other node).
fn started_pair(dir: &Path) -> (PathBuf, String, String) {
    let cib = cib_with_fragment(dir);
    let state = dir.join("state-started.xml");
    let first = ok(
        "crm_simulate",
        &[
            "-x",
            path_str(&cib),
            "-S",
            "--quorum",
            "1",
            "--node-up",
            NODE_A,
            "--node-up",
            NODE_B,
            "--save-output",
            path_str(&state),
        ],
        None,
    );
    let node = group_node(&first);
    assert_group_started_in_order(&first, &node);
    let other = if node == NODE_A { NODE_B } else { NODE_A };
    (state, node, other.to_owned())
}

#[test]
fn crm_simulate_restarts_a_failed_nomad_agent_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (state, node, _) = started_pair(dir.path());
    let group = common::sample();
    let nomad = &group.member_ids()[5];
    // The Nomad agent's 30 s monitor reports a generic error (rc 1) on
    // the node that runs the group.
    let injection = format!("{nomad}_monitor_30000@{node}=1");
    let out = ok(
        "crm_simulate",
        &["-x", path_str(&state), "-S", "-i", &injection],
        None,
    );
    let actions: Vec<(String, String, String)> = resource_actions(&out)
        .into_iter()
        .filter(|(rsc, action, _)| {
            group.member_ids().contains(rsc) && (action == "start" || action == "stop")
        })
        .collect();
    // Recovered where it was: stopped and started again on the same node,
    // and nothing else of the group moved (no fencing, no failover).
    assert_eq!(
        actions,
        [
            (nomad.clone(), "stop".to_owned(), node.clone()),
            (nomad.clone(), "start".to_owned(), node.clone()),
        ],
        "{out}"
    );
    assert!(!out.contains("Fencing "), "{out}");
    // And it is monitored again after the restart.
    assert!(
        resource_actions(&out)
            .iter()
            .any(|(rsc, action, on)| rsc == nomad && action.starts_with("monitor") && on == &node),
        "{out}"
    );
}

#[test]
fn crm_simulate_moves_the_group_off_a_node_put_in_standby() {
    let dir = tempfile::tempdir().unwrap();
    let (state, node, other) = started_pair(dir.path());
    // An operator puts the group's node in standby (maintenance of the
    // host): the same attribute `crm node standby` sets.
    ok(
        "crm_attribute",
        &["--node", &node, "--name", "standby", "--update", "on"],
        Some(&state),
    );
    let out = ok("crm_simulate", &["-x", path_str(&state), "-S"], None);
    assert!(!out.contains("Fencing "), "a standby is no failure:\n{out}");
    let group = common::sample();
    // Stopped on the standby node in reverse order, then started on the
    // other in order.
    let stops: Vec<String> = resource_actions(&out)
        .into_iter()
        .filter(|(rsc, action, on)| {
            action == "stop" && on == &node && group.member_ids().contains(rsc)
        })
        .map(|(rsc, _, _)| rsc)
        .collect();
    let mut reversed = group.member_ids().to_vec();
    reversed.reverse();
    assert_eq!(stops, reversed, "{out}");
    assert_group_started_in_order(&out, &other);
}
