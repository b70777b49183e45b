//! The workflows' interface ([`HaGroupDriver`]) over Pacemaker: one
//! [`Driver`] per host pair, each running the tools through its own
//! [`CommandRunner`] (in production a [`FirstReachable`] over
//! [`SshRunner`]s to the pair's two hosts, see [`ssh_pair`]).
//!
//! [`render_create`] gives the fragment that [`HaGroupDriver::ensure`]
//! applies, from the same inputs, so that what a create would write can
//! be shown (and reviewed) without a cluster.
//!
//! [`FirstReachable`]: crate::FirstReachable
//! [`SshRunner`]: crate::SshRunner

use std::net::IpAddr;
use std::path::Path;

use async_trait::async_trait;
use dbaas_drivers::ha::{HaGroup, HaGroupDriver, HaMount, HaStatus};
use dbaas_drivers::{DriverError as HaError, Result as HaResult};

use crate::names::Error;
use crate::ssh::{FirstReachable, HostKeyPolicy, SshRunner};
use crate::{
    AbsolutePath, Agents, CommandRunner, Credentials, DatabaseGroup, DatabaseName, Driver,
    FloatingIp, FloatingIpId, FsType, GroupState, Mount, NodeName, PairName, PairNode, ServerId,
    StandIn, SubnetId, VolumeId,
};

fn path(kind: &'static str, p: &Path) -> Result<AbsolutePath, Error> {
    let text = p.to_str().ok_or_else(|| Error::Invalid {
        kind,
        value: p.to_string_lossy().into_owned(),
        reason: "it is not valid UTF-8".into(),
    })?;
    AbsolutePath::parse(text)
}

fn mount(m: &HaMount) -> Result<Mount, Error> {
    Ok(Mount {
        device: path("path", &m.device)?,
        directory: path("path", &m.directory)?,
        fstype: FsType::parse(&m.fstype)?,
    })
}

impl DatabaseGroup {
    /// The group of the workflows' [`HaGroup`], every value checked (see
    /// [`crate::names`]), with the agents authenticating by `credentials`.
    pub fn from_ha(group: &HaGroup, credentials: &Credentials) -> Result<Self, Error> {
        let node = |n: &dbaas_drivers::ha::HaNode| -> Result<PairNode, Error> {
            Ok(PairNode {
                name: NodeName::parse(&n.name)?,
                server: ServerId::parse(&n.server_id)?,
            })
        };
        let [a, b] = &group.pair.nodes;
        let database = DatabaseGroup {
            database: DatabaseName::parse(&group.database)?,
            pair: PairName::parse(&group.pair.id)?,
            nodes: [node(a)?, node(b)?],
            credentials: credentials.clone(),
            volume: VolumeId::parse(&group.volume_id)?,
            data: mount(&group.data)?,
            wal: mount(&group.wal)?,
            floating_ip: FloatingIp {
                ip_id: FloatingIpId::parse(&group.floating_ip.id)?,
                subnet_id: SubnetId::parse(&group.floating_ip.subnet_id)?,
            },
        };
        database.check()?;
        Ok(database)
    }
}

/// Renders the production fragment a create applies for `group` (what
/// [`PacemakerHa::ensure`](HaGroupDriver::ensure) of a production driver
/// with these `credentials` writes), as an XML document.
pub fn render_create(group: &HaGroup, credentials: &Credentials) -> Result<String, Error> {
    DatabaseGroup::from_ha(group, credentials)?.render()
}

/// Which agents [`PacemakerHa`] puts in the groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentKind {
    Production,
    /// [`Agents::StandIn`], with each group's floating address (which must
    /// be a loopback address) as the stand-in IP.
    StandIn,
}

/// [`HaGroupDriver`] over Pacemaker, for the pairs it was given.
///
/// A group goes to the pair its [`HaGroup`] names; removal, status and
/// listing look at every pair (a database's group lives on exactly one).
/// An unknown pair, or a pair whose hosts cannot be reached, is an error:
/// absence is only ever concluded from a CIB that was read.
pub struct PacemakerHa<R> {
    credentials: Credentials,
    agents: AgentKind,
    pairs: Vec<(PairName, Driver<R>)>,
}

impl<R: CommandRunner> PacemakerHa<R> {
    /// A driver putting production groups (OpenStack agents authenticated
    /// by `credentials`, fence_openstack) on the pairs added with
    /// [`PacemakerHa::pair`].
    pub fn new(credentials: Credentials) -> Self {
        PacemakerHa {
            credentials,
            agents: AgentKind::Production,
            pairs: Vec::new(),
        }
    }

    /// Puts stand-in groups instead ([`Agents::StandIn`], for machines
    /// without OpenStack or systemd: tests and demonstrations only), whose
    /// floating IP is each group's floating address on `lo`.
    pub fn stand_in(mut self) -> Self {
        self.agents = AgentKind::StandIn;
        self
    }

    /// Adds the pair `id`, whose CIB `driver` reaches.
    pub fn pair(mut self, id: PairName, driver: Driver<R>) -> Self {
        self.pairs.retain(|(p, _)| *p != id);
        self.pairs.push((id, driver));
        self
    }

    /// The fragment [`HaGroupDriver::ensure`] applies for `group`, as an
    /// XML document.
    pub fn render(&self, group: &HaGroup) -> Result<String, Error> {
        let database = DatabaseGroup::from_ha(group, &self.credentials)?;
        database.render_for(&self.agents_for(group)?)
    }

    fn agents_for(&self, group: &HaGroup) -> Result<Agents, Error> {
        Ok(match self.agents {
            AgentKind::Production => Agents::Production,
            AgentKind::StandIn => match group.floating_ip.address {
                IpAddr::V4(ip) => Agents::StandIn(StandIn::new(ip)?),
                IpAddr::V6(ip) => {
                    return Err(Error::Invalid {
                        kind: "stand-in floating IP",
                        value: ip.to_string(),
                        reason: "the stand-in floating IP is an IPv4 loopback address".into(),
                    })
                }
            },
        })
    }
}

fn refused(e: Error) -> HaError {
    HaError::new(e.to_string())
}

fn failed(e: crate::DriverError) -> HaError {
    HaError::new(format!("pacemaker: {e}"))
}

#[async_trait]
impl<R: CommandRunner + 'static> HaGroupDriver for PacemakerHa<R> {
    async fn ensure(&self, group: &HaGroup) -> HaResult<()> {
        let database = DatabaseGroup::from_ha(group, &self.credentials).map_err(refused)?;
        let fragment = database
            .fragment(&self.agents_for(group).map_err(refused)?)
            .map_err(refused)?;
        let (_, driver) = self
            .pairs
            .iter()
            .find(|(p, _)| *p == database.pair)
            .ok_or_else(|| {
                HaError::new(format!(
                    "pacemaker: no host pair {:?} is configured",
                    group.pair.id
                ))
            })?;
        driver.apply(&fragment).await.map_err(failed)?;
        Ok(())
    }

    async fn remove(&self, database: &str) -> HaResult<()> {
        let database = DatabaseName::parse(database).map_err(refused)?;
        for (_, driver) in &self.pairs {
            driver.remove(&database).await.map_err(failed)?;
        }
        Ok(())
    }

    async fn status(&self, database: &str) -> HaResult<HaStatus> {
        let database = DatabaseName::parse(database).map_err(refused)?;
        for (_, driver) in &self.pairs {
            let status = driver.status(&database).await.map_err(failed)?;
            let state = match status.state() {
                GroupState::Absent => continue,
                GroupState::Started(node) => HaStatus::Running { node },
                GroupState::Stopped => HaStatus::Stopped,
                GroupState::Transitioning => HaStatus::Transitioning,
                GroupState::Failed => HaStatus::Failed {
                    problems: status
                        .resources
                        .iter()
                        .filter(|r| r.failed || r.blocked)
                        .flat_map(|r| {
                            let mut p: Vec<String> = r
                                .failures
                                .iter()
                                .map(|f| format!("{}: {f}", r.id))
                                .collect();
                            if r.blocked {
                                p.push(format!("{}: blocked", r.id));
                            }
                            if p.is_empty() {
                                p.push(format!("{}: failed", r.id));
                            }
                            p
                        })
                        .collect(),
                },
            };
            return Ok(state);
        }
        Ok(HaStatus::Absent)
    }

    async fn list(&self) -> HaResult<Vec<String>> {
        let mut names = Vec::new();
        for (_, driver) in &self.pairs {
            names.extend(
                driver
                    .databases()
                    .await
                    .map_err(failed)?
                    .into_iter()
                    .map(|d| d.to_string()),
            );
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// The runner of a pair reached over SSH: the tools run on the first of
/// `hosts` that answers, as `user` with the private key `identity`, on
/// `port`, host keys checked by `host_keys`.
pub fn ssh_pair(
    hosts: &[&str],
    port: u16,
    user: &str,
    identity: &AbsolutePath,
    host_keys: &HostKeyPolicy,
) -> Result<FirstReachable<SshRunner>, Error> {
    let runners = hosts
        .iter()
        .map(|h| SshRunner::new(h, user, identity.clone(), host_keys.clone()).map(|r| r.port(port)))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(FirstReachable::new(runners))
}
