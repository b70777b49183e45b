//! The Pacemaker side of a database: renders the CIB fragment that keeps one
//! database on a pair of OpenStack hosts (its Cinder volume attached and
//! mounted for data and WAL, its floating IP, the docker daemon and the
//! Nomad agent, all in one group that moves as a whole), with
//! `fence_openstack` fencing for both hosts and `stonith-enabled=true`.
//!
//! The fragment is built by a typed builder, not a text template: every
//! value comes from a checked type ([`names`]) and every element and
//! attribute goes through a real XML writer (`quick-xml`), so nothing is
//! spliced and there is no second language (template placeholders) to get
//! wrong. Operators read the rendered result instead of a template: the
//! golden file `tests/golden/orders-db.xml` is an exact, reviewed rendering,
//! and the test suite checks it with the real `crm_verify` and
//! `crm_simulate`.
//!
//! The fragment is a `<configuration>` element with `crm_config`,
//! `resources` and `constraints` children. Ids are derived from the typed
//! values only, so rendering the same database again gives the same
//! fragment, and the pieces shared by all databases of a pair (the
//! `openstack-info` clone, the fencing devices, `stonith-enabled`) keep the
//! same ids whichever database's fragment brings them.
//!
//! [`Driver`] puts a fragment into a live CIB ([`Driver::apply`]: only what
//! differs is written, as one diff that the CIB accepts only if nothing
//! changed since it was read, so a retried apply writes nothing and a
//! concurrent change is never overwritten), stops and removes a database
//! ([`Driver::stop`], [`Driver::remove`]) and reports what the cluster does
//! with it ([`Driver::status`], from `crm_mon`). It runs the Pacemaker
//! tools through a [`CommandRunner`] — [`LocalRunner`] on this machine,
//! [`SshRunner`] on a host of the pair (each argument quoted for the
//! remote shell, so the vector arrives intact), [`FirstReachable`] over
//! both hosts of a pair — with argument vectors, never a spliced line.
//!
//! [`PacemakerHa`] is the workflows' `HaGroupDriver` (from
//! `dbaas-drivers`) over one such driver per host pair, and
//! [`render_create`] renders what its `ensure` applies from the same
//! inputs.
//!
//! [`Agents::StandIn`] renders the same group with agents that run on a
//! machine without OpenStack or systemd, so that the driver is tested
//! against a real one-node cluster (`tests/cluster.rs`).

#![warn(missing_docs)]

pub mod driver;
pub mod ha;
pub mod names;
pub mod runner;
pub mod ssh;
pub mod status;
mod xml;

use std::io;
use std::net::Ipv4Addr;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::Writer;

pub use driver::{Applied, Driver, DriverError, WaitPolicy};
pub use ha::{render_create, ssh_pair, PacemakerHa};
pub use names::{
    AbsolutePath, CloudName, DatabaseName, Error, FloatingIpId, FsType, NodeName, PairName,
    ServerId, SubnetId, VolumeId,
};
pub use runner::{CommandOutput, CommandRunner, LocalRunner};
pub use ssh::{shell_quote, FirstReachable, HostKeyPolicy, SshRunner};
pub use status::{DatabaseStatus, GroupState, ResourceRole, ResourceStatus};

use xml::Node;

/// The node attribute that names the pair a host belongs to. The group of a
/// database is banned from every node where it is missing or different; the
/// host provisioning sets it (`crm_attribute --node N --name dbaas-pair
/// --update PAIR`).
pub const PAIR_ATTRIBUTE: &str = "dbaas-pair";

/// Id of the `openstack-info` clone, shared by every database on a pair.
pub const OPENSTACK_INFO_CLONE: &str = "openstack-info-clone";

/// Where the OpenStack agents and fence_openstack get their credentials.
/// Only references to credentials are offered: a password put in the CIB
/// would be readable by anyone who can read the CIB, and copied into every
/// CIB backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An entry of `clouds.yaml` on the hosts (the agents' `cloud`).
    Cloud(CloudName),
    /// An openrc file on the hosts, sourced by the agents (`openrc`).
    Openrc(AbsolutePath),
}

impl Credentials {
    /// The one parameter (name, value) that points the agents at the
    /// credentials; the agents check `cloud` first, then `openrc`.
    fn parameter(&self) -> (&'static str, &str) {
        match self {
            Credentials::Cloud(name) => ("cloud", name.as_str()),
            Credentials::Openrc(path) => ("openrc", path.as_str()),
        }
    }
}

/// One host of the pair: its Pacemaker node name and the Nova server that
/// fence_openstack powers off when the node must be fenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairNode {
    /// The node name Pacemaker knows the host by.
    pub name: NodeName,
    /// The host's Nova server id.
    pub server: ServerId,
}

/// A filesystem mounted by `ocf:heartbeat:Filesystem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The block device (prefer a stable `/dev/disk/by-*` link).
    pub device: AbsolutePath,
    /// The mount point.
    pub directory: AbsolutePath,
    /// The filesystem type given to `mount -t`.
    pub fstype: FsType,
}

/// The floating IP that follows the database, moved by
/// `ocf:heartbeat:openstack-floating-ip`. The agent takes the floating IP's
/// id (`ip_id`), not its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIp {
    /// The floating IP's Neutron id.
    pub ip_id: FloatingIpId,
    /// The subnet on which each host's port is looked up.
    pub subnet_id: SubnetId,
}

/// Everything the fragment of one database is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseGroup {
    /// The database; its group is `g-NAME`.
    pub database: DatabaseName,
    /// The pair the database is placed on ([`PAIR_ATTRIBUTE`]).
    pub pair: PairName,
    /// The two hosts of the pair.
    pub nodes: [PairNode; 2],
    /// How the agents authenticate to OpenStack.
    pub credentials: Credentials,
    /// The database's Cinder volume.
    pub volume: VolumeId,
    /// The data filesystem.
    pub data: Mount,
    /// The WAL filesystem.
    pub wal: Mount,
    /// The database's floating IP.
    pub floating_ip: FloatingIp,
}

/// Which resource agents the fragment is made of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Agents {
    /// The agents of a production pair: `openstack-cinder-volume`,
    /// `Filesystem` on the volume's devices, `openstack-floating-ip`,
    /// systemd's docker and nomad units, `openstack-info` and
    /// `fence_openstack`. What [`DatabaseGroup::render`] renders.
    #[default]
    Production,
    /// Stand-ins that run on a machine without OpenStack or systemd (a
    /// developer's machine, CI), chosen explicitly: the same group, member
    /// ids, order, operations, constraints and fencing (`stonith-enabled`
    /// stays true), with each agent replaced by one that works locally —
    /// see [`StandIn`]. Never a production choice: nothing it starts
    /// protects data.
    StandIn(StandIn),
}

/// The settings of the [`Agents::StandIn`] agents. The volume and
/// `openstack-info` become `ocf:heartbeat:Dummy`; each filesystem is a
/// `tmpfs` mounted by `Filesystem` on the group's own mount point; the
/// floating IP is `IPaddr2` with a loopback address on `lo`; docker and
/// nomad are `ocf:heartbeat:anything` running `sleep infinity`; the fence
/// devices are `fence_dummy` (fence-agents), which "fences" by writing a
/// status file, so the cluster keeps fencing enabled and has devices to
/// use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandIn {
    floating_ip: Ipv4Addr,
}

impl StandIn {
    /// Stand-ins whose floating IP is `floating_ip`, which must be a
    /// loopback address (127.0.0.0/8): `IPaddr2` adds it to `lo`, where it
    /// can shadow nothing outside the machine.
    pub fn new(floating_ip: Ipv4Addr) -> Result<Self, Error> {
        if !floating_ip.is_loopback() || floating_ip == Ipv4Addr::LOCALHOST {
            return Err(Error::Invalid {
                kind: "stand-in floating IP",
                value: floating_ip.to_string(),
                reason: "the stand-in floating IP is a loopback address other than 127.0.0.1"
                    .into(),
            });
        }
        Ok(StandIn { floating_ip })
    }

    /// The loopback address the stand-in floating IP adds to `lo`.
    pub fn floating_ip(&self) -> Ipv4Addr {
        self.floating_ip
    }
}

/// A rendered fragment for the driver ([`Driver::apply`]): the database it
/// belongs to and its `<configuration>` element.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    database: DatabaseName,
    configuration: Node,
}

impl Fragment {
    /// The database the fragment belongs to.
    pub fn database(&self) -> &DatabaseName {
        &self.database
    }

    /// The id of the database's group, `g-NAME`.
    pub fn group_id(&self) -> String {
        group_id(&self.database)
    }

    pub(crate) fn configuration(&self) -> &Node {
        &self.configuration
    }
}

/// The id of the group of `database`, `g-NAME`.
pub fn group_id(database: &DatabaseName) -> String {
    format!("g-{database}")
}

/// The ids of the members of the group of `database`, in start order:
/// volume, data filesystem, WAL filesystem, floating IP, docker, nomad.
pub fn member_ids(database: &DatabaseName) -> [String; 6] {
    let d = database;
    [
        format!("{d}-volume"),
        format!("{d}-fs-data"),
        format!("{d}-fs-wal"),
        format!("{d}-floating-ip"),
        format!("{d}-docker"),
        format!("{d}-nomad"),
    ]
}

/// An operation and its timing, as Pacemaker `op` elements take them.
struct Op {
    name: &'static str,
    interval: &'static str,
    timeout: &'static str,
}

const fn op(name: &'static str, interval: &'static str, timeout: &'static str) -> Op {
    Op {
        name,
        interval,
        timeout,
    }
}

// Operation timings. Start and stop of the volume are the longest: start
// may first force-detach the volume from the other (possibly dead) server
// and then attach it here, two Nova/Cinder round trips that each take up to
// the agent's own 180 s default; stop is one detach. Monitors of the
// volume use the local virtio device check (the agent's default), so they
// are cheap, but keep the agent's 180 s timeout in case it falls back to
// the API.
const VOLUME_OPS: &[Op] = &[
    op("start", "0s", "360s"),
    op("stop", "0s", "240s"),
    op("monitor", "60s", "180s"),
];
// Filesystem start may run fsck on a volume that was not cleanly unmounted
// (the previous host was fenced), so it gets three times the agent's 60 s.
// Stop kills users of the mount and waits for them.
const FILESYSTEM_OPS: &[Op] = &[
    op("start", "0s", "180s"),
    op("stop", "0s", "120s"),
    op("monitor", "20s", "40s"),
];
// Moving a floating IP is two Neutron calls through the openstack CLI
// (each CLI start costs seconds).
const FLOATING_IP_OPS: &[Op] = &[
    op("start", "0s", "120s"),
    op("stop", "0s", "120s"),
    op("monitor", "30s", "60s"),
];
// Docker and Nomad stop their containers/allocations on stop; the
// engine's own shutdown happens inside that window.
const SERVICE_OPS: &[Op] = &[
    op("start", "0s", "120s"),
    op("stop", "0s", "180s"),
    op("monitor", "30s", "60s"),
];
// openstack-info asks the metadata service and the API once per monitor.
const OPENSTACK_INFO_OPS: &[Op] = &[
    op("start", "0s", "60s"),
    op("stop", "0s", "60s"),
    op("monitor", "60s", "60s"),
];
// The fence device's monitor is a Nova "list" call bounded by the agent's
// apitimeout (60 s).
const FENCE_OPS: &[Op] = &[op("monitor", "60s", "120s")];

/// How long Pacemaker waits for one fencing action. fence_openstack waits up
/// to `power_timeout` (60 s) for the server to change state after an API
/// call bounded by `apitimeout` (60 s); the cluster default (60 s) would
/// give up on a fencing that is still succeeding.
const FENCE_ACTION_TIMEOUT: &str = "180s";

/// Stickiness of a database group: moving it detaches and reattaches the
/// volume, so it stays where it runs when the other host comes back.
const GROUP_STICKINESS: &str = "1000";

/// A small element tree, written out by [`write_element`]. Names are
/// static (they are the CIB schema's); attribute values are owned strings
/// that the XML writer escapes.
struct El {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<El>,
}

impl El {
    fn new(name: &'static str) -> Self {
        El {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }
    fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }
    fn child(mut self, child: El) -> Self {
        self.children.push(child);
        self
    }
    fn children(mut self, children: impl IntoIterator<Item = El>) -> Self {
        self.children.extend(children);
        self
    }
}

impl From<&El> for Node {
    fn from(el: &El) -> Node {
        Node {
            name: el.name.to_owned(),
            attrs: el
                .attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            children: el.children.iter().map(Node::from).collect(),
        }
    }
}

fn write_element(w: &mut Writer<Vec<u8>>, el: &El) -> io::Result<()> {
    let start =
        BytesStart::new(el.name).with_attributes(el.attrs.iter().map(|(k, v)| (*k, v.as_str())));
    if el.children.is_empty() {
        w.write_event(Event::Empty(start))?;
    } else {
        w.write_event(Event::Start(start))?;
        for child in &el.children {
            write_element(w, child)?;
        }
        w.write_event(Event::End(BytesEnd::new(el.name)))?;
    }
    Ok(())
}

/// `<nvpair>`s under a set element (`instance_attributes`,
/// `meta_attributes`, `cluster_property_set`), ids `SETID-NAME` as `pcs`
/// and `crm_attribute` make them.
fn nvset(tag: &'static str, set_id: &str, pairs: &[(&str, &str)]) -> El {
    El::new(tag)
        .attr("id", set_id)
        .children(pairs.iter().map(|(name, value)| {
            El::new("nvpair")
                .attr("id", format!("{set_id}-{name}"))
                .attr("name", *name)
                .attr("value", *value)
        }))
}

fn operations(rsc_id: &str, ops: &[Op]) -> El {
    El::new("operations").children(ops.iter().map(|o| {
        El::new("op")
            .attr("id", format!("{rsc_id}-{}-interval-{}", o.name, o.interval))
            .attr("name", o.name)
            .attr("interval", o.interval)
            .attr("timeout", o.timeout)
    }))
}

/// An OCF heartbeat primitive with its parameters (the set is left out
/// when there are none, as `pcs` does) and operations.
fn ocf(id: &str, agent: &str, params: &[(&str, &str)], ops: &[Op]) -> El {
    let primitive = El::new("primitive")
        .attr("id", id)
        .attr("class", "ocf")
        .attr("provider", "heartbeat")
        .attr("type", agent);
    let primitive = if params.is_empty() {
        primitive
    } else {
        primitive.child(nvset(
            "instance_attributes",
            &format!("{id}-instance_attributes"),
            params,
        ))
    };
    primitive.child(operations(id, ops))
}

fn systemd(id: &str, unit: &str, ops: &[Op]) -> El {
    El::new("primitive")
        .attr("id", id)
        .attr("class", "systemd")
        .attr("type", unit)
        .child(operations(id, ops))
}

impl DatabaseGroup {
    /// The id of the database's group, `g-NAME`.
    pub fn group_id(&self) -> String {
        group_id(&self.database)
    }

    /// The ids of the group's members, in start order: volume, data
    /// filesystem, WAL filesystem, floating IP, docker, nomad.
    pub fn member_ids(&self) -> [String; 6] {
        member_ids(&self.database)
    }

    /// The id of the fencing device that fences `node`, `fence-NODE`.
    pub fn fence_id(node: &NodeName) -> String {
        format!("fence-{node}")
    }

    /// Checks what the single types cannot: the two nodes differ, and the
    /// two filesystems use different devices and mount points, none inside
    /// the other (mounting WAL inside data would make data's stop fail on a
    /// busy mount point).
    pub fn check(&self) -> Result<(), Error> {
        let [a, b] = &self.nodes;
        if a.name == b.name {
            return Err(Error::Inconsistent(format!(
                "both nodes are named {:?}",
                a.name.as_str()
            )));
        }
        if a.server == b.server {
            return Err(Error::Inconsistent(format!(
                "both nodes are the Nova server {}",
                a.server
            )));
        }
        if self.data.device == self.wal.device {
            return Err(Error::Inconsistent(format!(
                "data and WAL are on the same device {}",
                self.data.device
            )));
        }
        let (d, w) = (self.data.directory.as_str(), self.wal.directory.as_str());
        let nested =
            |outer: &str, inner: &str| inner == outer || inner.starts_with(&format!("{outer}/"));
        if nested(d, w) || nested(w, d) {
            return Err(Error::Inconsistent(format!(
                "the data mount point {d} and the WAL mount point {w} overlap"
            )));
        }
        Ok(())
    }

    /// Renders the production fragment (see the crate documentation) as an
    /// XML document, after [`DatabaseGroup::check`].
    pub fn render(&self) -> Result<String, Error> {
        self.render_for(&Agents::Production)
    }

    /// Renders the fragment made of `agents` as an XML document, after
    /// [`DatabaseGroup::check`].
    pub fn render_for(&self, agents: &Agents) -> Result<String, Error> {
        self.check()?;
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        // Writing to a Vec cannot fail; an error here is a bug in the writer.
        let write = |w: &mut Writer<Vec<u8>>| -> io::Result<()> {
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
            write_element(w, &self.configuration(agents))
        };
        write(&mut w).expect("writing XML to memory");
        let mut text = String::from_utf8(w.into_inner()).expect("the XML writer writes UTF-8");
        text.push('\n');
        Ok(text)
    }

    /// The fragment made of `agents`, for the driver, after
    /// [`DatabaseGroup::check`].
    pub fn fragment(&self, agents: &Agents) -> Result<Fragment, Error> {
        self.check()?;
        Ok(Fragment {
            database: self.database.clone(),
            configuration: Node::from(&self.configuration(agents)),
        })
    }

    fn configuration(&self, agents: &Agents) -> El {
        El::new("configuration")
            .child(El::new("crm_config").child(nvset(
                "cluster_property_set",
                // The set and nvpair ids crm_attribute uses, so that the
                // merge overwrites an existing stonith-enabled instead of
                // adding a second, conflicting one.
                "cib-bootstrap-options",
                &[("stonith-enabled", "true")],
            )))
            .child(
                El::new("resources")
                    .child(self.openstack_info_clone(agents))
                    .child(self.group(agents))
                    .children(self.nodes.iter().map(|n| self.fence_device(n, agents))),
            )
            .child(El::new("constraints").children(self.constraints()))
    }

    fn openstack_info_clone(&self, agents: &Agents) -> El {
        let credentials = self.credentials.parameter();
        let info = match agents {
            Agents::Production => ocf(
                "openstack-info",
                "openstack-info",
                &[credentials],
                OPENSTACK_INFO_OPS,
            ),
            Agents::StandIn(_) => ocf("openstack-info", "Dummy", &[], OPENSTACK_INFO_OPS),
        };
        El::new("clone")
            .attr("id", OPENSTACK_INFO_CLONE)
            .child(info)
            // Interleave: a database group waits only for the instance on
            // its own node, not for the clone on every node.
            .child(nvset(
                "meta_attributes",
                &format!("{OPENSTACK_INFO_CLONE}-meta_attributes"),
                &[("interleave", "true")],
            ))
    }

    fn group(&self, agents: &Agents) -> El {
        let credentials = self.credentials.parameter();
        let [volume, fs_data, fs_wal, fip, docker, nomad] = self.member_ids();
        let filesystem = |id: &str, m: &Mount| {
            let params = match agents {
                Agents::Production => [
                    ("device", m.device.as_str()),
                    ("directory", m.directory.as_str()),
                    ("fstype", m.fstype.as_str()),
                ],
                // tmpfs needs no block device; the mount point is the
                // group's own, so the mount order is exercised as is.
                Agents::StandIn(_) => [
                    ("device", "tmpfs"),
                    ("directory", m.directory.as_str()),
                    ("fstype", "tmpfs"),
                ],
            };
            ocf(id, "Filesystem", &params, FILESYSTEM_OPS)
        };
        let group_id = self.group_id();
        let group = El::new("group").attr("id", &group_id).child(nvset(
            "meta_attributes",
            &format!("{group_id}-meta_attributes"),
            &[("resource-stickiness", GROUP_STICKINESS)],
        ));
        match agents {
            Agents::Production => group
                .child(ocf(
                    &volume,
                    "openstack-cinder-volume",
                    &[credentials, ("volume_id", self.volume.as_str())],
                    VOLUME_OPS,
                ))
                .child(filesystem(&fs_data, &self.data))
                .child(filesystem(&fs_wal, &self.wal))
                .child(ocf(
                    &fip,
                    "openstack-floating-ip",
                    &[
                        credentials,
                        ("ip_id", self.floating_ip.ip_id.as_str()),
                        ("subnet_id", self.floating_ip.subnet_id.as_str()),
                    ],
                    FLOATING_IP_OPS,
                ))
                .child(systemd(&docker, "docker", SERVICE_OPS))
                .child(systemd(&nomad, "nomad", SERVICE_OPS)),
            Agents::StandIn(stand_in) => {
                let ip = stand_in.floating_ip.to_string();
                // `sleep infinity` is a process that runs until stopped,
                // which is all the cluster needs to see of a service.
                let service = |id: &str| {
                    ocf(
                        id,
                        "anything",
                        &[("binfile", "/bin/sleep"), ("cmdline_options", "infinity")],
                        SERVICE_OPS,
                    )
                };
                group
                    .child(ocf(&volume, "Dummy", &[], VOLUME_OPS))
                    .child(filesystem(&fs_data, &self.data))
                    .child(filesystem(&fs_wal, &self.wal))
                    .child(ocf(
                        &fip,
                        "IPaddr2",
                        &[("ip", &ip), ("cidr_netmask", "32"), ("nic", "lo")],
                        FLOATING_IP_OPS,
                    ))
                    .child(service(&docker))
                    .child(service(&nomad))
            }
        }
    }

    fn fence_device(&self, node: &PairNode, agents: &Agents) -> El {
        let id = Self::fence_id(&node.name);
        let (agent, params) = match agents {
            Agents::Production => (
                "fence_openstack",
                vec![
                    // pcmk_host_list tells Pacemaker this device fences
                    // exactly this node; plug is the server the agent
                    // powers off (the node name is not the server id).
                    ("pcmk_host_list", node.name.as_str()),
                    ("plug", node.server.as_str()),
                    self.credentials.parameter(),
                    ("pcmk_reboot_timeout", FENCE_ACTION_TIMEOUT),
                    ("pcmk_off_timeout", FENCE_ACTION_TIMEOUT),
                ],
            ),
            Agents::StandIn(_) => (
                "fence_dummy",
                vec![
                    ("pcmk_host_list", node.name.as_str()),
                    ("pcmk_reboot_timeout", FENCE_ACTION_TIMEOUT),
                    ("pcmk_off_timeout", FENCE_ACTION_TIMEOUT),
                ],
            ),
        };
        El::new("primitive")
            .attr("id", &id)
            .attr("class", "stonith")
            .attr("type", agent)
            .child(nvset(
                "instance_attributes",
                &format!("{id}-instance_attributes"),
                &params,
            ))
            .child(operations(&id, FENCE_OPS))
    }

    fn constraints(&self) -> Vec<El> {
        let group = self.group_id();
        let on_pair = format!("{group}-on-pair");
        let mut constraints = vec![
            // Banned (-INFINITY) wherever the pair attribute is missing or
            // names another pair: a positive score alone would still let the
            // group run elsewhere when both hosts are down.
            El::new("rsc_location")
                .attr("id", &on_pair)
                .attr("rsc", &group)
                .child(
                    El::new("rule")
                        .attr("id", format!("{on_pair}-rule"))
                        .attr("score", "-INFINITY")
                        .attr("boolean-op", "or")
                        .child(
                            El::new("expression")
                                .attr("id", format!("{on_pair}-rule-other-pair"))
                                .attr("attribute", PAIR_ATTRIBUTE)
                                .attr("operation", "ne")
                                .attr("value", self.pair.as_str()),
                        )
                        .child(
                            El::new("expression")
                                .attr("id", format!("{on_pair}-rule-no-pair"))
                                .attr("attribute", PAIR_ATTRIBUTE)
                                .attr("operation", "not_defined"),
                        ),
                ),
            // The volume and floating IP agents read the node attributes
            // openstack-info publishes (openstack_id, openstack_ports), so
            // the group starts after it and only where it runs.
            El::new("rsc_order")
                .attr("id", format!("{group}-after-openstack-info"))
                .attr("first", OPENSTACK_INFO_CLONE)
                .attr("then", &group)
                .attr("kind", "Mandatory"),
            El::new("rsc_colocation")
                .attr("id", format!("{group}-with-openstack-info"))
                .attr("rsc", &group)
                .attr("with-rsc", OPENSTACK_INFO_CLONE)
                .attr("score", "INFINITY"),
        ];
        // A node never runs the device that fences it: a node that must be
        // fenced cannot be trusted to fence itself.
        constraints.extend(self.nodes.iter().map(|n| {
            let fence = Self::fence_id(&n.name);
            El::new("rsc_location")
                .attr("id", format!("{fence}-avoids-{}", n.name))
                .attr("rsc", &fence)
                .attr("node", n.name.as_str())
                .attr("score", "-INFINITY")
        }));
        constraints
    }
}
