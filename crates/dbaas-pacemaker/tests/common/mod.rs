//! What the test files share: the sample database group the golden file and
//! the Pacemaker runs are made from.

#![allow(dead_code)] // each test file uses a different part

use dbaas_pacemaker::{
    AbsolutePath, CloudName, Credentials, DatabaseGroup, DatabaseName, FloatingIp, FloatingIpId,
    FsType, Mount, NodeName, PairName, PairNode, ServerId, SubnetId, VolumeId,
};

pub const NODE_A: &str = "db-host-a";
pub const NODE_B: &str = "db-host-b";
pub const PAIR: &str = "pair-1";

/// The database group of `tests/golden/orders-db.xml`.
pub fn sample() -> DatabaseGroup {
    DatabaseGroup {
        database: DatabaseName::parse("orders-db").unwrap(),
        pair: PairName::parse(PAIR).unwrap(),
        nodes: [
            PairNode {
                name: NodeName::parse(NODE_A).unwrap(),
                server: ServerId::parse("1c6b9a4e-0f3d-4a55-9a0e-5d2f7b8c9d01").unwrap(),
            },
            PairNode {
                name: NodeName::parse(NODE_B).unwrap(),
                server: ServerId::parse("2d7cab5f-1e4e-4b66-8b1f-6e3a8c9dae02").unwrap(),
            },
        ],
        credentials: Credentials::Cloud(CloudName::parse("dbaas").unwrap()),
        volume: VolumeId::parse("3e8dbc60-2f5f-4c77-9c20-7f4b9daebf03").unwrap(),
        data: Mount {
            device: AbsolutePath::parse("/dev/disk/by-label/orders-db-data").unwrap(),
            directory: AbsolutePath::parse("/srv/dbaas/orders-db/data").unwrap(),
            fstype: FsType::parse("ext4").unwrap(),
        },
        wal: Mount {
            device: AbsolutePath::parse("/dev/disk/by-label/orders-db-wal").unwrap(),
            directory: AbsolutePath::parse("/srv/dbaas/orders-db/wal").unwrap(),
            fstype: FsType::parse("ext4").unwrap(),
        },
        floating_ip: FloatingIp {
            ip_id: FloatingIpId::parse("4f9ecd71-3a6a-4d88-8d31-8a5caefbc004").unwrap(),
            subnet_id: SubnetId::parse("5a0fde82-4b7b-4e99-9e42-9b6dbf0cd105").unwrap(),
        },
    }
}
