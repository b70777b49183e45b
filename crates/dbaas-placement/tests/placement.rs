use std::collections::BTreeMap;

use dbaas_placement::{
    place, Dimension, HostPair, HostPool, PlacementError, Request, Resources, Usage,
};
use serde_json::json;

fn pair(id: &str, zone: &str, cap: Resources) -> HostPair {
    HostPair {
        id: id.into(),
        zone: zone.into(),
        nomad_nodes: [format!("{id}-n1"), format!("{id}-n2")],
        pacemaker_nodes: [format!("{id}-1"), format!("{id}-2")],
        vip_port_id: format!("port-{id}"),
        capacity: cap,
    }
}

fn cap(databases: u64, vcpus: u64, memory_mib: u64, volumes: u64) -> Resources {
    Resources {
        databases,
        vcpus,
        memory_mib,
        volumes,
    }
}

/// 6 pairs in 3 zones, each room for 10 small databases.
fn pool() -> HostPool {
    let c = cap(10, 16, 32768, 20);
    HostPool::new(
        ["a", "b", "c"]
            .iter()
            .flat_map(|z| (1..=2).map(move |i| pair(&format!("{z}{i}"), &format!("az-{z}"), c)))
            .collect(),
    )
    .unwrap()
}

fn counts(usage: &Usage, pool: &HostPool) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut by_pair = BTreeMap::new();
    let mut by_zone = BTreeMap::new();
    for p in pool.pairs() {
        let n = usage.of(&p.id).databases;
        by_pair.insert(p.id.clone(), n);
        *by_zone.entry(p.zone.clone()).or_insert(0) += n;
    }
    (by_pair, by_zone)
}

#[test]
fn fifty_creates_spread_evenly_within_capacity() {
    let pool = pool();
    let mut usage = Usage::new();
    let small = Request::new(1, 2048);
    let mut placed = Vec::new();
    for i in 0..50 {
        let id = place(&pool, &usage, &small).unwrap_or_else(|e| panic!("create {i}: {e}"));
        usage.reserve(&pool, &id, &small).unwrap();
        placed.push(id);
        // After every create the zones differ by at most one database.
        let (_, by_zone) = counts(&usage, &pool);
        let (lo, hi) = (
            by_zone.values().min().unwrap(),
            by_zone.values().max().unwrap(),
        );
        assert!(hi - lo <= 1, "after {} creates: {by_zone:?}", i + 1);
    }
    let (by_pair, by_zone) = counts(&usage, &pool);
    assert_eq!(by_zone.values().sum::<u64>(), 50);
    assert_eq!(
        by_zone.values().copied().collect::<Vec<_>>(),
        vec![17, 17, 16],
        "{by_zone:?}"
    );
    for (id, n) in &by_pair {
        assert!((8..=9).contains(n), "{id}: {n} ({by_pair:?})");
    }
    for p in pool.pairs() {
        let used = usage.of(&p.id);
        assert!(used.databases <= p.capacity.databases);
        assert!(used.vcpus <= p.capacity.vcpus);
        assert!(used.memory_mib <= p.capacity.memory_mib);
        assert_eq!(used.memory_mib, used.databases * 2048);
    }
    // Consecutive creates never land in the same zone twice in a row
    // while zones are balanced: the first three go to three zones.
    let zone = |id: &str| pool.pair(id).unwrap().zone.clone();
    let first: std::collections::BTreeSet<_> = placed[..3].iter().map(|p| zone(p)).collect();
    assert_eq!(first.len(), 3);

    // Deterministic: the same state gives the same pair.
    assert_eq!(
        place(&pool, &usage, &small).unwrap(),
        place(&pool, &usage.clone(), &small).unwrap()
    );

    // The pool holds 60; ten more fit, the next one does not.
    for _ in 0..10 {
        let id = place(&pool, &usage, &small).unwrap();
        usage.reserve(&pool, &id, &small).unwrap();
    }
    let e = place(&pool, &usage, &small).unwrap_err();
    let PlacementError::NoRoom(ref nr) = e else {
        panic!("{e}")
    };
    assert_eq!(
        nr.short.keys().copied().collect::<Vec<_>>(),
        vec![Dimension::Databases]
    );
    assert_eq!(nr.short[&Dimension::Databases].pairs_short, 6);
    let msg = e.to_string();
    assert!(msg.contains("databases short on 6 of 6 pairs"), "{msg}");
    assert!(msg.contains("most free: 0"), "{msg}");

    // Releasing gives capacity back, where it was.
    let last = placed.last().unwrap().clone();
    usage.release(&last, &small);
    assert_eq!(place(&pool, &usage, &small).unwrap(), last);
}

#[test]
fn an_unwound_create_gives_its_capacity_back() {
    let pool = pool();
    let big = Request::new(8, 16384);
    let mut usage = Usage::new();
    let before = usage.clone();
    let id = place(&pool, &usage, &big).unwrap();
    usage.reserve(&pool, &id, &big).unwrap();
    assert_eq!(usage.of(&id), big.resources());
    usage.release(&id, &big);
    assert_eq!(usage, before);
    // And the same choice is made again.
    assert_eq!(place(&pool, &usage, &big).unwrap(), id);
}

#[test]
fn the_short_dimension_is_named() {
    let pool = HostPool::new(vec![
        pair("p1", "az1", cap(10, 4, 8192, 10)),
        pair("p2", "az2", cap(10, 8, 4096, 10)),
    ])
    .unwrap();
    let usage = Usage::new();
    // Needs 6 vCPUs and 6 GiB: p1 lacks CPUs, p2 memory.
    let e = place(&pool, &usage, &Request::new(6, 6144)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("vCPUs short on 1 of 2 pairs (most free: 8, needed: 6)"),
        "{msg}"
    );
    assert!(
        msg.contains("memory (MiB) short on 1 of 2 pairs (most free: 8192, needed: 6144)"),
        "{msg}"
    );
    assert!(!msg.contains("databases short"), "{msg}");
    // Fits p2 on CPU and p1 on memory separately.
    assert_eq!(place(&pool, &usage, &Request::new(6, 4096)).unwrap(), "p2");
    assert_eq!(place(&pool, &usage, &Request::new(4, 6144)).unwrap(), "p1");
    // Reserving past capacity is refused even without place.
    let mut u = Usage::new();
    let e = u.reserve(&pool, "p1", &Request::new(5, 1)).unwrap_err();
    assert!(e.to_string().contains("vCPUs"), "{e}");
    assert_eq!(u, Usage::new());
    assert_eq!(
        u.reserve(&pool, "nope", &Request::new(1, 1)).unwrap_err(),
        PlacementError::UnknownPair("nope".into())
    );
    assert_eq!(
        place(&HostPool::default(), &usage, &Request::new(1, 1)).unwrap_err(),
        PlacementError::EmptyPool
    );
}

#[test]
fn a_zone_with_a_full_pair_still_takes_databases_on_its_other_pair() {
    let pool = pool();
    let small = Request::new(1, 1024);
    // a1 is full; a2 empty; the other zones hold 5 each.
    let mut placements: Vec<(&str, Request)> = vec![("a1", small); 10];
    placements.extend(
        ["b1", "b2", "c1", "c2"]
            .iter()
            .flat_map(|p| vec![(*p, small); 5]),
    );
    let usage = Usage::from_placements(placements);
    // Zone a is the most loaded (10 of 20) like b and c: ties by name → a,
    // where only a2 has room.
    assert_eq!(place(&pool, &usage, &small).unwrap(), "a2");
}

#[test]
fn heavier_pairs_get_proportionally_more() {
    // One zone with a big and a small pair: the dominant share decides.
    let pool = HostPool::new(vec![
        pair("big", "az1", cap(20, 32, 65536, 40)),
        pair("small", "az1", cap(5, 8, 16384, 10)),
    ])
    .unwrap();
    let r = Request::new(1, 2048);
    let mut usage = Usage::new();
    for _ in 0..25 {
        let id = place(&pool, &usage, &r).unwrap();
        usage.reserve(&pool, &id, &r).unwrap();
    }
    assert_eq!(usage.of("big").databases, 20);
    assert_eq!(usage.of("small").databases, 5);
}

#[test]
fn pool_from_heat_outputs() {
    // As Heat returns them: numbers from parameters may be strings.
    let outputs: BTreeMap<String, serde_json::Value> = serde_json::from_value(json!({
        "pair_id": "dbaas-pair-1",
        "zone": "nova",
        "nomad_nodes": ["dbaas-pair-1-a", "dbaas-pair-1-b"],
        "pacemaker_nodes": ["dbaas-pair-1-a", "dbaas-pair-1-b"],
        "vip_port_id": "5e0c3e3a-6c07-4a54-9d47-6b3a0b0c1a2b",
        "capacity": {"databases": "8", "vcpus": 16, "memory_mib": "65536", "volumes": 16},
        "other": "ignored"
    }))
    .unwrap();
    let p = HostPair::from_heat_outputs(&outputs).unwrap();
    assert_eq!(p.id, "dbaas-pair-1");
    assert_eq!(p.capacity, cap(8, 16, 65536, 16));
    assert_eq!(p.nomad_nodes[1], "dbaas-pair-1-b");
    let pool = HostPool::new(vec![p]).unwrap();
    assert_eq!(
        place(&pool, &Usage::new(), &Request::new(2, 4096)).unwrap(),
        "dbaas-pair-1"
    );

    let mut missing = outputs.clone();
    missing.remove("vip_port_id");
    let e = HostPair::from_heat_outputs(&missing).unwrap_err();
    assert!(e.to_string().contains("no output \"vip_port_id\""), "{e}");
    let mut bad = outputs.clone();
    bad.insert("capacity".into(), json!({"databases": "eight"}));
    let e = HostPair::from_heat_outputs(&bad).unwrap_err();
    assert!(e.to_string().contains("capacity"), "{e}");
    assert!(e.to_string().contains("eight"), "{e}");
}

#[test]
fn pool_from_hcl_and_serde() {
    let hcl = r#"
host_pair "pair-a" {
  zone            = "az1"
  nomad_nodes     = ["a-1", "a-2"]
  pacemaker_nodes = ["a-1", "a-2"]
  vip_port_id     = "port-a"
  capacity {
    databases  = 10
    vcpus      = 16
    memory_mib = 65536
    volumes    = 20
  }
}

host_pair "pair-b" {
  zone            = "az2"
  nomad_nodes     = ["b-1", "b-2"]
  pacemaker_nodes = ["b-1", "b-2"]
  vip_port_id     = "port-b"
  capacity {
    databases  = 4
    vcpus      = 8
    memory_mib = 16384
    volumes    = 8
  }
}
"#;
    let pool = HostPool::from_hcl(hcl).unwrap();
    let ids: Vec<_> = pool.pairs().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec!["pair-a", "pair-b"]);
    assert_eq!(pool.pair("pair-b").unwrap().capacity, cap(4, 8, 16384, 8));
    assert_eq!(pool.pair("pair-a").unwrap().vip_port_id, "port-a");

    // The same as a JSON list (how a config crate may embed it).
    let json = serde_json::to_value(&pool).unwrap();
    let back: HostPool = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, pool);
    assert!(json.is_array());

    // Errors name the problem.
    let typo = hcl.replace("vcpus      = 16", "vcpu = 16");
    let e = HostPool::from_hcl(&typo).unwrap_err();
    assert!(e.to_string().contains("vcpu"), "{e}");
    let same_nodes = hcl.replace(
        r#"nomad_nodes     = ["b-1", "b-2"]"#,
        r#"nomad_nodes     = ["b-1", "b-1"]"#,
    );
    let e = HostPool::from_hcl(&same_nodes).unwrap_err();
    assert!(e.to_string().contains("two distinct"), "{e}");
    let shared = hcl.replace(
        r#"nomad_nodes     = ["b-1", "b-2"]"#,
        r#"nomad_nodes     = ["a-1", "b-2"]"#,
    );
    let e = HostPool::from_hcl(&shared).unwrap_err();
    assert!(e.to_string().contains("\"a-1\" is in another pair"), "{e}");
    let mut dup = serde_json::to_value(&pool).unwrap();
    dup[1]["id"] = json!("pair-a");
    let e = serde_json::from_value::<HostPool>(dup).unwrap_err();
    assert!(e.to_string().contains("appears twice"), "{e}");
}

#[test]
fn report_shows_use_and_free() {
    let pool = pool();
    let r = Request::new(2, 4096);
    let usage = Usage::from_placements([("a1", r), ("a1", r), ("c2", r)]);
    let rep = pool.report(&usage);
    assert_eq!(rep.len(), 6);
    let a1 = rep.iter().find(|p| p.id == "a1").unwrap();
    assert_eq!(a1.used, cap(2, 4, 8192, 2));
    assert_eq!(a1.free, cap(8, 12, 32768 - 8192, 18));
    let b1 = rep.iter().find(|p| p.id == "b1").unwrap();
    assert_eq!(b1.used, Resources::default());
    assert_eq!(b1.free, b1.capacity);
}
