//! The host pool and placement: which host pair runs a new database.
//!
//! A **host pair** is a 2-node Pacemaker cluster whose nodes are also
//! Nomad clients; a database's resource group (volume, file systems,
//! floating IP) lives on one pair. The pool is recorded from the outputs
//! of the Heat stacks that built the pairs ([`HostPair::from_heat_outputs`])
//! or from the agent's configuration ([`HostPool::from_hcl`], or serde).
//!
//! [`place`] is pure: given the pool, what is in use and a request, it
//! names the pair, or says what is short. It spreads across availability
//! zones (the least-loaded zone first, then the least-loaded pair in it;
//! ties by name), so losing a zone loses the fewest databases. The control
//! plane calls it and records the reservation ([`Usage::reserve`]) in one
//! store transaction, and gives the capacity back ([`Usage::release`]) when
//! a create unwinds or a database is deleted.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Amounts of what a pair offers and a database takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Databases (resource groups).
    #[serde(default, deserialize_with = "number")]
    pub databases: u64,
    /// Virtual CPUs.
    #[serde(default, deserialize_with = "number")]
    pub vcpus: u64,
    /// Memory in MiB.
    #[serde(default, deserialize_with = "number")]
    pub memory_mib: u64,
    /// Attached volumes.
    #[serde(default, deserialize_with = "number")]
    pub volumes: u64,
}

/// Heat returns parameters as given, so a number may arrive as a string.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        N(u64),
        S(String),
    }
    match N::deserialize(d)? {
        N::N(n) => Ok(n),
        N::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("not a whole number: {s:?}"))),
    }
}

/// The dimensions of [`Resources`], to say which one is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// [`Resources::databases`].
    Databases,
    /// [`Resources::vcpus`].
    Vcpus,
    /// [`Resources::memory_mib`].
    MemoryMib,
    /// [`Resources::volumes`].
    Volumes,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 4] = [
        Dimension::Databases,
        Dimension::Vcpus,
        Dimension::MemoryMib,
        Dimension::Volumes,
    ];
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dimension::Databases => "databases",
            Dimension::Vcpus => "vCPUs",
            Dimension::MemoryMib => "memory (MiB)",
            Dimension::Volumes => "volumes",
        })
    }
}

impl Resources {
    /// The amount of one dimension.
    pub fn get(&self, d: Dimension) -> u64 {
        match d {
            Dimension::Databases => self.databases,
            Dimension::Vcpus => self.vcpus,
            Dimension::MemoryMib => self.memory_mib,
            Dimension::Volumes => self.volumes,
        }
    }

    fn zip(&self, o: &Resources, f: impl Fn(u64, u64) -> u64) -> Resources {
        Resources {
            databases: f(self.databases, o.databases),
            vcpus: f(self.vcpus, o.vcpus),
            memory_mib: f(self.memory_mib, o.memory_mib),
            volumes: f(self.volumes, o.volumes),
        }
    }

    /// The sum.
    pub fn plus(&self, o: &Resources) -> Resources {
        self.zip(o, u64::saturating_add)
    }

    /// The difference, never below zero.
    pub fn minus(&self, o: &Resources) -> Resources {
        self.zip(o, u64::saturating_sub)
    }

    /// The dimensions in which `want` exceeds `self`.
    pub fn short_of(&self, want: &Resources) -> Vec<Dimension> {
        Dimension::ALL
            .into_iter()
            .filter(|d| want.get(*d) > self.get(*d))
            .collect()
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} databases, {} vCPUs, {} MiB memory, {} volumes",
            self.databases, self.vcpus, self.memory_mib, self.volumes
        )
    }
}

/// What one database asks of its pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// vCPUs of its engine.
    pub vcpus: u64,
    /// Memory of its engine, MiB.
    pub memory_mib: u64,
    /// Volumes it attaches (data; WAL when separate). Default 1.
    #[serde(default = "one")]
    pub volumes: u64,
}

fn one() -> u64 {
    1
}

impl Request {
    /// A request for one volume.
    pub fn new(vcpus: u64, memory_mib: u64) -> Request {
        Request {
            vcpus,
            memory_mib,
            volumes: 1,
        }
    }

    /// As resources: one database and its amounts.
    pub fn resources(&self) -> Resources {
        Resources {
            databases: 1,
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
            volumes: self.volumes,
        }
    }
}

/// One host pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPair {
    /// Unique in the pool (the Heat stack's name, say).
    pub id: String,
    /// The availability zone both nodes are in.
    pub zone: String,
    /// The Nomad node names of the two nodes.
    pub nomad_nodes: [String; 2],
    /// The Pacemaker node names of the two nodes (their host names).
    pub pacemaker_nodes: [String; 2],
    /// The Neutron port holding the pair's VIP, which databases' floating
    /// IPs are associated with.
    pub vip_port_id: String,
    /// What the pair can hold.
    pub capacity: Resources,
}

/// The pool: every host pair dbaas may place on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HostPool {
    pairs: Vec<HostPair>,
}

impl<'de> Deserialize<'de> for HostPool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        HostPool::new(Vec::<HostPair>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What is wrong with a pool, an output map or a reservation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// No pair has room; says what is short.
    #[error("{0}")]
    NoRoom(NoRoom),
    /// The pool has no pairs.
    #[error("the host pool is empty: add host pairs (Heat stacks or host_pair blocks) before creating databases")]
    EmptyPool,
    /// A pair id not in the pool.
    #[error("no host pair {0:?} in the pool")]
    UnknownPair(String),
    /// An invalid pool or pair description.
    #[error("host pool: {0}")]
    Invalid(String),
}

/// No pair can take a request: how close each dimension came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoom {
    /// What was asked.
    pub request: Request,
    /// For each dimension some pair lacks: how many pairs lack it and the
    /// most any pair has free.
    pub short: BTreeMap<Dimension, Shortage>,
    /// Pairs in the pool.
    pub pairs: usize,
}

/// How one dimension fell short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortage {
    /// Pairs without enough of it.
    pub pairs_short: usize,
    /// The most any pair has free.
    pub most_free: u64,
}

impl fmt::Display for NoRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let want = self.request.resources();
        write!(
            f,
            "no host pair has room for a database of {} vCPUs, {} MiB memory and {} volumes:",
            want.vcpus, want.memory_mib, want.volumes
        )?;
        let mut first = true;
        for (d, s) in &self.short {
            let sep = if first { " " } else { "; " };
            first = false;
            write!(
                f,
                "{sep}{d} short on {} of {} pairs (most free: {}, needed: {})",
                s.pairs_short,
                self.pairs,
                s.most_free,
                want.get(*d)
            )?;
        }
        write!(f, ". Add host pairs or free capacity")
    }
}

impl HostPool {
    /// A pool of `pairs`, checked: unique ids, two distinct named nodes
    /// each, a zone and a VIP port.
    pub fn new(pairs: Vec<HostPair>) -> Result<HostPool, PlacementError> {
        let mut ids = BTreeSet::new();
        let mut nodes = BTreeSet::new();
        for p in &pairs {
            let bad = |what: &str| PlacementError::Invalid(format!("pair {:?}: {what}", p.id));
            if p.id.is_empty() {
                return Err(PlacementError::Invalid("a pair without an id".into()));
            }
            if !ids.insert(p.id.as_str()) {
                return Err(bad("its id appears twice"));
            }
            if p.zone.is_empty() {
                return Err(bad("no availability zone"));
            }
            if p.vip_port_id.is_empty() {
                return Err(bad("no VIP port id"));
            }
            for list in [&p.nomad_nodes, &p.pacemaker_nodes] {
                if list[0].is_empty() || list[1].is_empty() || list[0] == list[1] {
                    return Err(bad("needs two distinct named nodes"));
                }
            }
            for n in &p.nomad_nodes {
                if !nodes.insert(n.as_str()) {
                    return Err(bad(&format!("Nomad node {n:?} is in another pair too")));
                }
            }
        }
        Ok(HostPool { pairs })
    }

    /// The pairs, in the order given.
    pub fn pairs(&self) -> &[HostPair] {
        &self.pairs
    }

    /// The pair with this id.
    pub fn pair(&self, id: &str) -> Option<&HostPair> {
        self.pairs.iter().find(|p| p.id == id)
    }

    /// A pool from the agent's configuration:
    ///
    /// ```hcl
    /// host_pair "pair-a" {
    ///   zone            = "az1"
    ///   nomad_nodes     = ["a-1", "a-2"]
    ///   pacemaker_nodes = ["a-1", "a-2"]
    ///   vip_port_id     = "9f1c..."
    ///   capacity {
    ///     databases  = 10
    ///     vcpus      = 16
    ///     memory_mib = 65536
    ///     volumes    = 20
    ///   }
    /// }
    /// ```
    pub fn from_hcl(text: &str) -> Result<HostPool, PlacementError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            host_pair: BTreeMap<String, Body>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            zone: String,
            nomad_nodes: [String; 2],
            pacemaker_nodes: [String; 2],
            vip_port_id: String,
            capacity: Resources,
        }
        let f: File = hcl::from_str(text)
            .map_err(|e| PlacementError::Invalid(format!("host_pair blocks: {e}")))?;
        HostPool::new(
            f.host_pair
                .into_iter()
                .map(|(id, b)| HostPair {
                    id,
                    zone: b.zone,
                    nomad_nodes: b.nomad_nodes,
                    pacemaker_nodes: b.pacemaker_nodes,
                    vip_port_id: b.vip_port_id,
                    capacity: b.capacity,
                })
                .collect(),
        )
    }

    /// Pairs and their use, for `dbaas hosts list`.
    pub fn report(&self, usage: &Usage) -> Vec<PairReport> {
        self.pairs
            .iter()
            .map(|p| {
                let used = usage.of(&p.id);
                PairReport {
                    id: p.id.clone(),
                    zone: p.zone.clone(),
                    nomad_nodes: p.nomad_nodes.clone(),
                    capacity: p.capacity,
                    used,
                    free: p.capacity.minus(&used),
                }
            })
            .collect()
    }
}

/// One pair's line in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairReport {
    /// The pair.
    pub id: String,
    /// Its zone.
    pub zone: String,
    /// Its Nomad nodes.
    pub nomad_nodes: [String; 2],
    /// What it can hold.
    pub capacity: Resources,
    /// What is reserved on it.
    pub used: Resources,
    /// What is left.
    pub free: Resources,
}

/// The keys a host-pair stack's outputs carry (see `heat/host-pair.yaml`).
pub mod heat_outputs {
    /// The pair's id.
    pub const PAIR_ID: &str = "pair_id";
    /// Availability zone.
    pub const ZONE: &str = "zone";
    /// The two Nomad node names.
    pub const NOMAD_NODES: &str = "nomad_nodes";
    /// The two Pacemaker node names.
    pub const PACEMAKER_NODES: &str = "pacemaker_nodes";
    /// The VIP port id.
    pub const VIP_PORT_ID: &str = "vip_port_id";
    /// A map of the capacity ([`super::Resources`] fields).
    pub const CAPACITY: &str = "capacity";
    /// Every key.
    pub const ALL: [&str; 6] = [
        PAIR_ID,
        ZONE,
        NOMAD_NODES,
        PACEMAKER_NODES,
        VIP_PORT_ID,
        CAPACITY,
    ];
}

impl HostPair {
    /// The pair a host-pair Heat stack built, from its outputs (output key
    /// to value). A missing or malformed output is named in the error.
    pub fn from_heat_outputs(
        outputs: &BTreeMap<String, serde_json::Value>,
    ) -> Result<HostPair, PlacementError> {
        use heat_outputs as k;
        fn get<T: serde::de::DeserializeOwned>(
            outputs: &BTreeMap<String, serde_json::Value>,
            key: &str,
        ) -> Result<T, PlacementError> {
            let v = outputs.get(key).ok_or_else(|| {
                PlacementError::Invalid(format!("the stack has no output {key:?}"))
            })?;
            serde_json::from_value(v.clone())
                .map_err(|e| PlacementError::Invalid(format!("stack output {key:?}: {e}: {v}")))
        }
        Ok(HostPair {
            id: get(outputs, k::PAIR_ID)?,
            zone: get(outputs, k::ZONE)?,
            nomad_nodes: get(outputs, k::NOMAD_NODES)?,
            pacemaker_nodes: get(outputs, k::PACEMAKER_NODES)?,
            vip_port_id: get(outputs, k::VIP_PORT_ID)?,
            capacity: get(outputs, k::CAPACITY)?,
        })
    }
}

/// What is reserved on each pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Reserved amounts by pair id; a pair absent uses nothing.
    pub pairs: BTreeMap<String, Resources>,
}

impl Usage {
    /// Nothing reserved.
    pub fn new() -> Usage {
        Usage::default()
    }

    /// The usage of existing placements (pair id, request).
    pub fn from_placements<'a>(placements: impl IntoIterator<Item = (&'a str, Request)>) -> Usage {
        let mut u = Usage::new();
        for (pair, r) in placements {
            let e = u.pairs.entry(pair.to_string()).or_default();
            *e = e.plus(&r.resources());
        }
        u
    }

    /// What is reserved on `pair`.
    pub fn of(&self, pair: &str) -> Resources {
        self.pairs.get(pair).copied().unwrap_or_default()
    }

    /// Reserves `request` on `pair`, checking it still fits (the other half
    /// of [`place`], in the same transaction).
    pub fn reserve(
        &mut self,
        pool: &HostPool,
        pair: &str,
        request: &Request,
    ) -> Result<(), PlacementError> {
        let p = pool
            .pair(pair)
            .ok_or_else(|| PlacementError::UnknownPair(pair.to_string()))?;
        let free = p.capacity.minus(&self.of(pair));
        let short = free.short_of(&request.resources());
        if !short.is_empty() {
            let mut m = BTreeMap::new();
            for d in short {
                m.insert(
                    d,
                    Shortage {
                        pairs_short: 1,
                        most_free: free.get(d),
                    },
                );
            }
            return Err(PlacementError::NoRoom(NoRoom {
                request: *request,
                short: m,
                pairs: 1,
            }));
        }
        let e = self.pairs.entry(pair.to_string()).or_default();
        *e = e.plus(&request.resources());
        Ok(())
    }

    /// Gives `request`'s capacity on `pair` back (a deleted database, an
    /// unwound create). Never goes below zero. Usage is a sum, not a set:
    /// the caller keeps the placement record and releases once, when it
    /// removes that record (or rebuilds usage with
    /// [`Usage::from_placements`]).
    pub fn release(&mut self, pair: &str, request: &Request) {
        if let Some(e) = self.pairs.get_mut(pair) {
            *e = e.minus(&request.resources());
            if *e == Resources::default() {
                self.pairs.remove(pair);
            }
        }
    }
}

/// A load as a fraction, compared exactly.
#[derive(Debug, Clone, Copy)]
struct Load {
    num: u64,
    den: u64,
}

impl Load {
    /// The dominant share: the largest used/capacity fraction across
    /// dimensions with capacity.
    fn dominant(used: &Resources, cap: &Resources) -> Load {
        let mut best = Load { num: 0, den: 1 };
        for d in Dimension::ALL {
            let c = cap.get(d);
            if c == 0 {
                continue;
            }
            let l = Load {
                num: used.get(d),
                den: c,
            };
            if l.cmp(&best) == Ordering::Greater {
                best = l;
            }
        }
        best
    }

    fn cmp(&self, o: &Load) -> Ordering {
        (u128::from(self.num) * u128::from(o.den)).cmp(&(u128::from(o.num) * u128::from(self.den)))
    }
}

/// Chooses the pair for `request`: among pairs with room for it, those of
/// the least-loaded zone, and among them the least-loaded pair. A load is
/// the dominant share (the largest of used/capacity across databases,
/// vCPUs, memory and volumes), of the whole zone for zones; ties go to the
/// zone, then pair, whose name sorts first. Deterministic: same inputs,
/// same answer.
pub fn place(pool: &HostPool, usage: &Usage, request: &Request) -> Result<String, PlacementError> {
    if pool.pairs.is_empty() {
        return Err(PlacementError::EmptyPool);
    }
    let want = request.resources();
    let mut short: BTreeMap<Dimension, Shortage> = BTreeMap::new();
    let mut candidates = Vec::new();
    for p in &pool.pairs {
        let used = usage.of(&p.id);
        let free = p.capacity.minus(&used);
        let lacks = free.short_of(&want);
        for d in Dimension::ALL {
            let s = short.entry(d).or_insert(Shortage {
                pairs_short: 0,
                most_free: 0,
            });
            s.most_free = s.most_free.max(free.get(d));
        }
        for d in &lacks {
            short.get_mut(d).expect("every dimension").pairs_short += 1;
        }
        if lacks.is_empty() {
            candidates.push((p, used));
        }
    }
    if candidates.is_empty() {
        short.retain(|_, s| s.pairs_short > 0);
        return Err(PlacementError::NoRoom(NoRoom {
            request: *request,
            short,
            pairs: pool.pairs.len(),
        }));
    }
    // Zone loads over every pair of the zone (full ones count too).
    let mut zones: BTreeMap<&str, (Resources, Resources)> = BTreeMap::new();
    for p in &pool.pairs {
        let z = zones.entry(p.zone.as_str()).or_default();
        z.0 = z.0.plus(&usage.of(&p.id));
        z.1 = z.1.plus(&p.capacity);
    }
    let zone_load = |z: &str| {
        let (u, c) = zones[z];
        Load::dominant(&u, &c)
    };
    let best = candidates
        .into_iter()
        .min_by(|(a, ua), (b, ub)| {
            zone_load(&a.zone)
                .cmp(&zone_load(&b.zone))
                .then_with(|| a.zone.cmp(&b.zone))
                .then_with(|| Load::dominant(ua, &a.capacity).cmp(&Load::dominant(ub, &b.capacity)))
                .then_with(|| a.id.cmp(&b.id))
        })
        .expect("candidates is not empty");
    Ok(best.0.id.clone())
}
