//! Placement of new databases on the host pool (`dbaas-placement` decides;
//! this module feeds it from the state store).
//!
//! A database's reservation is its record's `host_pair`: the use of every
//! pair is rebuilt from the records placed on it, so a create holds
//! capacity from placement until its record goes (an unwound create, a
//! delete) or its placement step is undone, and there is no separate
//! counter to drift. Placement runs under a lock in the control plane, so
//! two creates never take a pair's last room twice.

use dbaas_model::{DatabaseRecord, HostPair, PairResources};
use dbaas_placement::{HostPool, Request, Resources, Usage};

/// What a database of `size_gb` asks of its pair: its engine's CPU and
/// memory (as its engine job sizes them) and one volume.
pub fn request_for(size_gb: u32) -> Request {
    let (cpu_mhz, memory_mb) = dbaas_nomad_runtime::resources_for(size_gb);
    Request::new(u64::from(cpu_mhz).div_ceil(1000), u64::from(memory_mb))
}

/// What is reserved on each pair by the databases in `records`.
pub fn usage(records: &[DatabaseRecord]) -> Usage {
    Usage::from_placements(
        records
            .iter()
            .filter_map(|r| Some((r.host_pair.as_deref()?, request_for(r.size_gb)))),
    )
}

/// The pair a new database of `size_gb` goes to, or why none can take it.
pub fn place(pool: &HostPool, records: &[DatabaseRecord], size_gb: u32) -> Result<String, String> {
    dbaas_placement::place(pool, &usage(records), &request_for(size_gb)).map_err(|e| e.to_string())
}

fn view(r: &Resources) -> PairResources {
    PairResources {
        databases: r.databases,
        vcpus: r.vcpus,
        memory_mib: r.memory_mib,
        volumes: r.volumes,
    }
}

/// Every pair of the pool with its use.
pub fn pool_use(pool: &HostPool, records: &[DatabaseRecord]) -> Vec<HostPair> {
    pool.report(&usage(records))
        .into_iter()
        .map(|p| HostPair {
            id: p.id,
            zone: p.zone,
            nodes: p.nomad_nodes.to_vec(),
            capacity: view(&p.capacity),
            used: view(&p.used),
            free: view(&p.free),
        })
        .collect()
}
