//! Highly available placement of a database on a pair of hosts: the
//! interface the create and delete workflows use to put a database's
//! resources (its volume, file systems, floating IP, docker and the Nomad
//! agent) under the control of the pair's cluster manager, and to take
//! them out again.
//!
//! In production a Pacemaker resource group per database does this
//! (`dbaas-pacemaker`); locally there is nothing to fail over and [`NoHa`]
//! does nothing.
//!
//! Like every driver interface, each method is idempotent: the group is
//! named after the deterministic database instance name, `ensure` makes
//! the cluster hold exactly the group described (writing nothing when it
//! already does), and removing a group that is not there succeeds.

use std::net::IpAddr;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

/// One host of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaNode {
    /// The name the cluster knows the host by (its host name).
    pub name: String,
    /// The host's Nova server id, which fencing powers off.
    pub server_id: String,
}

/// The two hosts a database may run on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPair {
    /// The pair's id in the host pool.
    pub id: String,
    /// Its two hosts.
    pub nodes: [HaNode; 2],
}

/// A filesystem of the database's volume, mounted on whichever host runs
/// the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaMount {
    /// The block device (a stable `/dev/disk/by-*` link).
    pub device: PathBuf,
    /// The mount point.
    pub directory: PathBuf,
    /// The filesystem type (`ext4`, `xfs`).
    pub fstype: String,
}

/// The floating IP that follows the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaFloatingIp {
    /// The floating IP's id (Neutron).
    pub id: String,
    /// Its address, as clients reach the database.
    pub address: IpAddr,
    /// The subnet on which the hosts' ports are looked up.
    pub subnet_id: String,
}

/// Everything the cluster needs to keep one database running on a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaGroup {
    /// The deterministic instance name (`dbaas-NAME-ID8`, as the volume is
    /// named); the group and its resources are named after it.
    pub database: String,
    /// The pair the database is placed on.
    pub pair: HostPair,
    /// The database's volume id (Cinder).
    pub volume_id: String,
    /// The data filesystem.
    pub data: HaMount,
    /// The WAL filesystem.
    pub wal: HaMount,
    /// The database's floating IP.
    pub floating_ip: HaFloatingIp,
}

/// What the cluster does with a database, in one word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HaStatus {
    /// No cluster manages databases here (the local mode).
    NotManaged,
    /// The cluster has no group for the database.
    Absent,
    /// Every resource of the group runs, on this host.
    Running {
        /// The host.
        node: String,
    },
    /// The group is there and nothing of it runs.
    Stopped,
    /// The cluster is starting, stopping or moving the group.
    Transitioning,
    /// A resource failed or is blocked: the database needs attention.
    Failed {
        /// What failed, as the cluster reports it.
        problems: Vec<String>,
    },
}

/// Keeps databases running on host pairs (Pacemaker groups in production,
/// nothing locally).
#[async_trait]
pub trait HaGroupDriver: Send + Sync {
    /// Makes the pair's cluster hold the group for `group` (creating it,
    /// or putting right what differs); a repeated call changes nothing.
    async fn ensure(&self, group: &HaGroup) -> Result<()>;
    /// Stops the database's group, waits until it is stopped, and removes
    /// it. Absent is success.
    async fn remove(&self, database: &str) -> Result<()>;
    /// What the cluster does with the database's group.
    async fn status(&self, database: &str) -> Result<HaStatus>;
    /// The databases that have a group, to find orphans.
    async fn list(&self) -> Result<Vec<String>>;
}

/// The local mode's driver: no cluster, nothing to place. `ensure` and
/// `remove` succeed, `status` is [`HaStatus::NotManaged`], `list` is
/// empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHa;

#[async_trait]
impl HaGroupDriver for NoHa {
    async fn ensure(&self, _group: &HaGroup) -> Result<()> {
        Ok(())
    }
    async fn remove(&self, _database: &str) -> Result<()> {
        Ok(())
    }
    async fn status(&self, _database: &str) -> Result<HaStatus> {
        Ok(HaStatus::NotManaged)
    }
    async fn list(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> HaGroup {
        HaGroup {
            database: "dbaas-orders-0a1b2c3d".into(),
            pair: HostPair {
                id: "pair-1".into(),
                nodes: [
                    HaNode {
                        name: "a".into(),
                        server_id: "1".into(),
                    },
                    HaNode {
                        name: "b".into(),
                        server_id: "2".into(),
                    },
                ],
            },
            volume_id: "v".into(),
            data: HaMount {
                device: "/dev/vdb".into(),
                directory: "/srv/data".into(),
                fstype: "ext4".into(),
            },
            wal: HaMount {
                device: "/dev/vdc".into(),
                directory: "/srv/wal".into(),
                fstype: "ext4".into(),
            },
            floating_ip: HaFloatingIp {
                id: "f".into(),
                address: "203.0.113.7".parse().unwrap(),
                subnet_id: "s".into(),
            },
        }
    }

    #[tokio::test]
    async fn the_local_mode_manages_nothing_and_never_fails() {
        let ha: Box<dyn HaGroupDriver> = Box::new(NoHa);
        for _ in 0..2 {
            ha.ensure(&group()).await.unwrap();
        }
        assert_eq!(
            ha.status("dbaas-orders-0a1b2c3d").await.unwrap(),
            HaStatus::NotManaged
        );
        assert!(ha.list().await.unwrap().is_empty());
        for _ in 0..2 {
            ha.remove("dbaas-orders-0a1b2c3d").await.unwrap();
        }
    }

    #[test]
    fn statuses_read_as_tagged_json() {
        let json = serde_json::to_value(HaStatus::Running { node: "a".into() }).unwrap();
        assert_eq!(json, serde_json::json!({"state": "running", "node": "a"}));
        let json = serde_json::to_value(HaStatus::NotManaged).unwrap();
        assert_eq!(json, serde_json::json!({"state": "not_managed"}));
    }
}
