//! Placement of new databases on the host pool: a pair with room, the
//! least-used zone first (spreading databases across zones), then the
//! least-used pair in it; ties go to the smaller id, so the choice is
//! deterministic.
//!
//! A database's reservation is its record's `host_pair`: the use of a pair
//! is computed from the records placed on it, so a create holds capacity
//! from placement until its record goes (an unwound create, a delete), and
//! nothing else has to be released. Placement runs under a lock in the
//! control plane, so two creates never take the last room twice.

use std::collections::BTreeMap;

use dbaas_config::HostPairConfig;
use dbaas_model::{DatabaseRecord, HostPair, PairUse};

/// Every pair of the pool with its use, by id.
pub fn pool_use(
    pairs: &BTreeMap<String, HostPairConfig>,
    records: &[DatabaseRecord],
) -> Vec<HostPair> {
    pairs
        .iter()
        .map(|(id, p)| {
            let mut used = PairUse::default();
            for r in records
                .iter()
                .filter(|r| r.host_pair.as_deref() == Some(id))
            {
                used.databases += 1;
                used.volume_gb += u64::from(r.size_gb);
            }
            HostPair {
                id: id.clone(),
                zone: p.zone.clone(),
                nodes: p.nodes.clone(),
                capacity: PairUse {
                    databases: p.capacity.databases,
                    volume_gb: p.capacity.volume_gb,
                },
                used,
            }
        })
        .collect()
}

/// The pair a new database of `size_gb` goes to, or why none can take it.
pub fn place(pool: &[HostPair], size_gb: u32) -> Result<String, String> {
    let fits = |p: &HostPair| {
        p.used.databases < p.capacity.databases
            && p.used.volume_gb + u64::from(size_gb) <= p.capacity.volume_gb
    };
    let mut zone_use: BTreeMap<&str, u32> = BTreeMap::new();
    for p in pool {
        *zone_use.entry(&p.zone).or_default() += p.used.databases;
    }
    pool.iter()
        .filter(|p| fits(p))
        .min_by_key(|p| (zone_use[p.zone.as_str()], p.used.databases, &p.id))
        .map(|p| p.id.clone())
        .ok_or_else(|| {
            if pool.is_empty() {
                return "the host pool is empty: add host_pair blocks to the agent's configuration"
                    .to_string();
            }
            let why: Vec<String> = pool
                .iter()
                .map(|p| {
                    if p.used.databases >= p.capacity.databases {
                        format!("{} holds {} databases of {}", p.id, p.used.databases, p.capacity.databases)
                    } else {
                        format!(
                            "{} has {} GB of volume room left",
                            p.id,
                            p.capacity.volume_gb.saturating_sub(p.used.volume_gb)
                        )
                    }
                })
                .collect();
            format!(
                "no host pair has room for a {size_gb} GB database ({}); add host pairs or delete databases",
                why.join("; ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(zones: &[&str], per_zone: usize, databases: u32, volume_gb: u64) -> Vec<HostPair> {
        let mut out = Vec::new();
        for z in zones {
            for i in 0..per_zone {
                out.push(HostPair {
                    id: format!("{z}-pair-{i}"),
                    zone: z.to_string(),
                    nodes: vec![format!("{z}-{i}a"), format!("{z}-{i}b")],
                    capacity: PairUse {
                        databases,
                        volume_gb,
                    },
                    used: PairUse::default(),
                });
            }
        }
        out
    }

    fn take(pool: &mut [HostPair], id: &str, size: u32) {
        let p = pool.iter_mut().find(|p| p.id == id).unwrap();
        p.used.databases += 1;
        p.used.volume_gb += u64::from(size);
    }

    #[test]
    fn fifty_creates_over_six_pairs_in_three_zones_respect_capacity_and_spread() {
        let mut pool = pool(&["az1", "az2", "az3"], 2, 9, 500);
        for n in 0..50 {
            let id = place(&pool, 10).unwrap_or_else(|e| panic!("create {n}: {e}"));
            take(&mut pool, &id, 10);
            // Zones never differ by more than one database.
            let mut per_zone: BTreeMap<&str, u32> = BTreeMap::new();
            for p in &pool {
                *per_zone.entry(&p.zone).or_default() += p.used.databases;
            }
            let (lo, hi) = (
                per_zone.values().min().unwrap(),
                per_zone.values().max().unwrap(),
            );
            assert!(hi - lo <= 1, "after {n}: {per_zone:?}");
        }
        for p in &pool {
            assert!(p.used.databases <= p.capacity.databases, "{p:?}");
            assert!(p.used.databases >= 8, "pairs spread evenly: {p:?}");
        }
        // 54 slots: 4 more fit, then a clear refusal.
        for _ in 0..4 {
            let id = place(&pool, 10).unwrap();
            take(&mut pool, &id, 10);
        }
        let e = place(&pool, 10).unwrap_err();
        assert!(
            e.contains("no host pair has room") && e.contains("holds 9 databases of 9"),
            "{e}"
        );
    }

    #[test]
    fn volume_room_counts_and_freed_capacity_is_used_again() {
        let mut pool = pool(&["az1"], 2, 10, 100);
        take(&mut pool, "az1-pair-0", 90);
        // 20 GB fits only on pair 1.
        assert_eq!(place(&pool, 20).unwrap(), "az1-pair-1");
        take(&mut pool, "az1-pair-1", 90);
        let e = place(&pool, 20).unwrap_err();
        assert!(e.contains("10 GB of volume room left"), "{e}");
        // A deleted (or unwound) database gives its room back.
        pool[0].used = PairUse::default();
        assert_eq!(place(&pool, 20).unwrap(), "az1-pair-0");
        assert!(place(&[], 1).unwrap_err().contains("host_pair"));
    }
}
