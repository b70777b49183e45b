//! The description of a database's resource group on its host pair, as
//! the cluster manager (`drivers.ha`) is given it by the create saga, and
//! as `dbaas render` shows it.

use std::net::IpAddr;
use std::path::PathBuf;

use dbaas_config::{HostPairConfig, PacemakerConfig};
use dbaas_drivers::ha::{HaFloatingIp, HaGroup, HaMount, HaNode, HostPair};

/// Where a database's data and WAL file systems are mounted on the pair:
/// `<root>/<instance>` and `<root>/<instance>-wal`.
pub fn mount_points(pm: &PacemakerConfig, instance: &str) -> (PathBuf, PathBuf) {
    let data = pm.mount_root.join(instance);
    let wal = PathBuf::from(format!("{}-wal", data.display()));
    (data, wal)
}

/// The block device of a Cinder volume on the host it is attached to
/// (virtio serial = the id's first 20 characters); the data and WAL file
/// systems are its partitions 1 and 2.
fn device(volume_id: &str) -> String {
    let serial: String = volume_id.chars().take(20).collect();
    format!("/dev/disk/by-id/virtio-{serial}")
}

/// The group of `instance` on pair `pair_id`, with its volume and
/// floating IP. `server_ids` and `subnet_id` are the pair's, when its
/// configuration lacks them.
#[allow(clippy::too_many_arguments)]
pub fn group(
    pm: &PacemakerConfig,
    pair_id: &str,
    pair: &HostPairConfig,
    server_ids: [String; 2],
    subnet_id: String,
    instance: &str,
    volume_id: &str,
    floating_ip: (String, IpAddr),
) -> HaGroup {
    let nodes = pair
        .pacemaker_nodes
        .clone()
        .unwrap_or_else(|| pair.nomad_nodes.clone());
    let (data, wal) = mount_points(pm, instance);
    let dev = device(volume_id);
    HaGroup {
        database: instance.to_string(),
        pair: HostPair {
            id: pair_id.to_string(),
            nodes: [0, 1].map(|i| HaNode {
                name: nodes[i].clone(),
                server_id: server_ids[i].clone(),
            }),
        },
        volume_id: volume_id.to_string(),
        data: HaMount {
            device: PathBuf::from(format!("{dev}-part1")),
            directory: data,
            fstype: pm.fstype.clone(),
        },
        wal: HaMount {
            device: PathBuf::from(format!("{dev}-part2")),
            directory: wal,
            fstype: pm.fstype.clone(),
        },
        floating_ip: HaFloatingIp {
            id: floating_ip.0,
            address: floating_ip.1,
            subnet_id,
        },
    }
}

/// The pair's server ids and subnet, which a group needs for fencing and
/// for its floating IP.
pub fn pair_ids(pair_id: &str, pair: &HostPairConfig) -> Result<([String; 2], String), String> {
    let ids = pair.server_ids.clone().ok_or_else(|| {
        format!("host_pair {pair_id:?} has no server_ids (the Nova ids of its hosts, which fencing powers off)")
    })?;
    let subnet = pair.subnet_id.clone().ok_or_else(|| {
        format!("host_pair {pair_id:?} has no subnet_id (the subnet of its hosts' ports)")
    })?;
    Ok((ids, subnet))
}

/// The Pacemaker implementation of `drivers.ha`, over SSH to each pair's
/// hosts or over one CIB file.
pub fn pacemaker_driver(
    pm: &PacemakerConfig,
    pool: &dbaas_placement::HostPool,
) -> Result<std::sync::Arc<dyn dbaas_drivers::ha::HaGroupDriver>, String> {
    use dbaas_pacemaker::{
        ssh_pair, AbsolutePath, CloudName, Credentials, Driver, HostKeyPolicy, LocalRunner,
        PacemakerHa, PairName,
    };
    fn e(what: &'static str) -> impl Fn(dbaas_pacemaker::Error) -> String {
        move |err| format!("pacemaker: {what}: {err}")
    }
    let credentials = Credentials::Cloud(CloudName::parse(&pm.cloud).map_err(e("cloud"))?);
    match (&pm.cib_file, &pm.ssh) {
        (Some(file), _) => {
            let mut ha = PacemakerHa::new(credentials);
            for p in pool.pairs() {
                let driver = Driver::new(LocalRunner::with_cib_file(file));
                ha = ha.pair(PairName::parse(&p.id).map_err(e("pair"))?, driver);
            }
            if pm.stand_in {
                ha = ha.stand_in();
            }
            Ok(std::sync::Arc::new(ha))
        }
        (None, Some(ssh)) => {
            let key = AbsolutePath::parse(&ssh.key.to_string_lossy()).map_err(e("ssh.key"))?;
            let known = AbsolutePath::parse(&ssh.known_hosts.to_string_lossy())
                .map_err(e("ssh.known_hosts"))?;
            let mut ha = PacemakerHa::new(credentials);
            for p in pool.pairs() {
                let hosts: Vec<&str> = p.pacemaker_nodes.iter().map(String::as_str).collect();
                let runner = ssh_pair(
                    &hosts,
                    ssh.port,
                    &ssh.user,
                    &key,
                    &HostKeyPolicy::Strict(known.clone()),
                )
                .map_err(e("ssh"))?;
                ha = ha.pair(
                    PairName::parse(&p.id).map_err(e("pair"))?,
                    Driver::new(runner),
                );
            }
            if pm.stand_in {
                ha = ha.stand_in();
            }
            Ok(std::sync::Arc::new(ha))
        }
        (None, None) => Err("pacemaker: give ssh { ... } or cib_file".into()),
    }
}
