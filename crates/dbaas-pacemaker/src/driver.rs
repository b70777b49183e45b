//! The driver that puts a database's fragment into a live CIB, takes it
//! out again, and reports what the cluster does with it.
//!
//! # Changing the CIB without overwriting a concurrent change
//!
//! Every write is one `cibadmin --patch` of a format-2 CIB diff (the
//! format `crm_diff` prints and the cluster itself exchanges) built here
//! from the CIB the driver has just read. The diff's `<version><source>`
//! carries the `admin_epoch`, `epoch` and `num_updates` of that read, and
//! the CIB manager applies a diff only to exactly that version: a CIB that
//! moved on in between makes `cibadmin` fail with exit code 103
//! (`CRM_EX_OLD`, "Update was older than existing configuration"), and the
//! driver reads again, recomputes and retries. So the diff is a
//! compare-and-swap on the whole CIB version. The alternatives the tools
//! offer do not check: `cibadmin --replace` of a section and
//! `cibadmin --modify` apply whatever the CIB holds, and a replace of the
//! whole `<cib>` (which does compare versions) also replaces the status
//! section and makes the controller re-read every node's state. The
//! `num_updates` counter also moves with status updates (operation
//! results), so a busy cluster can refuse a diff that conflicts with no
//! configuration change; the retry covers that.
//!
//! The diff goes to `cibadmin` as one argument (`--xml-text`); Linux caps
//! one argument at 128 KiB, far above one database's diff (~10 KiB).
//!
//! # What a database owns
//!
//! Its group `g-NAME` (with the members inside it) and the constraints
//! whose ids start with `g-NAME-` and that name the group. The
//! `openstack-info` clone, the fence devices `fence-NODE` and the
//! constraints on them are shared by every database of the pair: a
//! fragment brings them, and removing the last database of the pair takes
//! them out. `stonith-enabled=true` is never taken out.

use std::time::Duration;

use tracing::{debug, info};

use crate::runner::{CommandOutput, CommandRunner};
use crate::status::{DatabaseStatus, ResourceRole};
use crate::xml::{Node, ParseError};
use crate::{group_id, member_ids, DatabaseName, Fragment, OPENSTACK_INFO_CLONE};

/// `cibadmin`'s exit code when a diff's source version is older than the
/// CIB (`CRM_EX_OLD`).
const EXIT_OLD_DATA: i32 = 103;

/// How many times a write is recomputed after a concurrent change.
const WRITE_ATTEMPTS: u32 = 20;

/// How long [`Driver::remove`] waits for the group to stop, and how often
/// it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// Give up after this long.
    pub timeout: Duration,
    /// Look this often.
    pub poll: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            // The sum of the members' stop timeouts (240 + 2 × 120 + 120 +
            // 2 × 180 s) plus a margin: a slow but succeeding stop must not
            // be reported as a failure.
            timeout: Duration::from_secs(20 * 60),
            poll: Duration::from_secs(1),
        }
    }
}

/// What [`Driver::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The CIB already held the fragment: nothing was written, the epoch
    /// did not move.
    Unchanged,
    /// The fragment was written; the CIB's configuration is now at
    /// `epoch`.
    Changed {
        /// The CIB's epoch after the write.
        epoch: u64,
    },
}

/// Why the driver could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A tool could not be run at all.
    #[error("cannot run {program}: {source}")]
    Run {
        /// The tool.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A tool ran and failed.
    #[error("{program} {operation} failed (exit code {code:?}): {stderr}")]
    Tool {
        /// The tool.
        program: String,
        /// What it was asked to do.
        operation: &'static str,
        /// Its exit code.
        code: Option<i32>,
        /// What it said on standard error.
        stderr: String,
    },
    /// A tool printed something the driver cannot read.
    #[error("unexpected output of {program}: {detail}")]
    Output {
        /// The tool.
        program: String,
        /// What was wrong.
        detail: String,
    },
    /// The CIB changed under every attempt to write.
    #[error("the CIB kept changing: gave up after {attempts} attempts to update it")]
    Conflict {
        /// How many diffs were refused.
        attempts: u32,
    },
    /// The group did not stop in time.
    #[error("{group} did not stop within {waited:?}; still active: {active:?}")]
    StopTimeout {
        /// The group.
        group: String,
        /// How long the driver waited.
        waited: Duration,
        /// The members still active, with their roles.
        active: Vec<String>,
    },
    /// The CIB holds an id the driver will not put into an XPath.
    #[error("the CIB holds an id that cannot be addressed safely: {0:?}")]
    UnsafeId(String),
}

/// The version of a CIB: a diff applies to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CibVersion {
    admin_epoch: u64,
    epoch: u64,
    num_updates: u64,
}

/// One change of a diff.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// Delete the element at `path`.
    Delete { path: String },
    /// Append `node` to the children of the element at `parent`.
    Create { parent: String, node: Node },
}

/// The outcome of one diff.
enum Written {
    Done(u64),
    Stale,
}

/// The driver over a [`CommandRunner`].
#[derive(Debug, Clone)]
pub struct Driver<R> {
    runner: R,
    wait: WaitPolicy,
}

impl<R: CommandRunner> Driver<R> {
    /// A driver running the tools with `runner`.
    pub fn new(runner: R) -> Self {
        Driver {
            runner,
            wait: WaitPolicy::default(),
        }
    }

    /// Sets how [`Driver::remove`] waits for the group to stop.
    pub fn with_wait(mut self, wait: WaitPolicy) -> Self {
        self.wait = wait;
        self
    }

    /// Makes the CIB hold `fragment`: its elements that are missing or
    /// differ are replaced, the database's constraints the fragment no
    /// longer has are deleted, everything else is left alone. When the
    /// CIB already holds the fragment nothing is written.
    pub async fn apply(&self, fragment: &Fragment) -> Result<Applied, DriverError> {
        let group = fragment.group_id();
        for attempt in 1..=WRITE_ATTEMPTS {
            let (version, cib) = self.query().await?;
            let changes = apply_changes(fragment.configuration(), &cib, &group)?;
            if changes.is_empty() {
                debug!(group, "the CIB already holds the fragment");
                return Ok(Applied::Unchanged);
            }
            match self.write(version, &changes).await? {
                Written::Done(epoch) => {
                    info!(group, epoch, changes = changes.len(), "fragment applied");
                    return Ok(Applied::Changed { epoch });
                }
                Written::Stale => debug!(group, attempt, "the CIB changed meanwhile; again"),
            }
        }
        Err(DriverError::Conflict {
            attempts: WRITE_ATTEMPTS,
        })
    }

    /// Takes the database out of the cluster: sets its group's
    /// `target-role=Stopped`, waits (bounded by the [`WaitPolicy`]) until
    /// `crm_mon` shows every member stopped, then deletes the group, its
    /// constraints and, when it was the pair's last database, the shared
    /// pieces (see the module documentation). Removing a database that is
    /// not there succeeds.
    pub async fn remove(&self, database: &DatabaseName) -> Result<(), DriverError> {
        let group = group_id(database);
        // Deleting a running group would also stop it (as an orphan), but
        // with no order among its members: stop it in order first.
        self.stop(database).await?;
        self.write_until_done(|cib| Ok((true, delete_changes(cib, &group)?)))
            .await?;
        info!(group, "database removed from the cluster");
        Ok(())
    }

    /// Stops the database's group: sets its `target-role=Stopped` and
    /// waits (bounded by the [`WaitPolicy`]) until `crm_mon` shows every
    /// member stopped. The group stays in the CIB; a later
    /// [`Driver::apply`] starts it again. Returns whether the group exists.
    pub async fn stop(&self, database: &DatabaseName) -> Result<bool, DriverError> {
        let group = group_id(database);
        let present = self
            .write_until_done(|cib| stop_changes(cib, &group))
            .await?;
        if present {
            self.wait_stopped(database).await?;
            info!(group, "database group stopped");
        }
        Ok(present)
    }

    /// The database's operating status as `crm_mon` reports it.
    pub async fn status(&self, database: &DatabaseName) -> Result<DatabaseStatus, DriverError> {
        let out = self
            .run(
                "crm_mon",
                "status",
                &["--one-shot", "--inactive", "--output-as=xml"],
            )
            .await?;
        DatabaseStatus::from_crm_mon(&group_id(database), &out.stdout)
            .map_err(|e| output_error("crm_mon", e))
    }

    /// The databases whose group the CIB holds: every group `g-NAME` whose
    /// members are exactly the members dbaas makes for NAME, so that groups
    /// made by others are never taken for a database.
    pub async fn databases(&self) -> Result<Vec<DatabaseName>, DriverError> {
        let (_, cib) = self.query().await?;
        Ok(databases_in(&cib))
    }

    /// Reads the CIB, computes changes with `compute` (which also says
    /// whether what it looked for was there), writes them; again on a
    /// concurrent change. Returns what `compute` said last.
    async fn write_until_done(
        &self,
        compute: impl Fn(&Node) -> Result<(bool, Vec<Change>), DriverError>,
    ) -> Result<bool, DriverError> {
        for _ in 1..=WRITE_ATTEMPTS {
            let (version, cib) = self.query().await?;
            let (found, changes) = compute(&cib)?;
            if changes.is_empty() {
                return Ok(found);
            }
            if let Written::Done(_) = self.write(version, &changes).await? {
                return Ok(found);
            }
        }
        Err(DriverError::Conflict {
            attempts: WRITE_ATTEMPTS,
        })
    }

    async fn wait_stopped(&self, database: &DatabaseName) -> Result<(), DriverError> {
        let started = tokio::time::Instant::now();
        loop {
            let status = self.status(database).await?;
            let active: Vec<String> = status
                .resources
                .iter()
                .filter(|r| r.role != ResourceRole::Stopped || !r.nodes.is_empty())
                .map(|r| format!("{} {:?} on {:?}", r.id, r.role, r.nodes))
                .collect();
            if active.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= self.wait.timeout {
                return Err(DriverError::StopTimeout {
                    group: status.group_id,
                    waited: started.elapsed(),
                    active,
                });
            }
            tokio::time::sleep(self.wait.poll).await;
        }
    }

    async fn run(
        &self,
        program: &str,
        operation: &'static str,
        args: &[&str],
    ) -> Result<CommandOutput, DriverError> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let out = self
            .runner
            .run(program, &args)
            .await
            .map_err(|source| DriverError::Run {
                program: program.to_owned(),
                source,
            })?;
        if !out.success() {
            return Err(DriverError::Tool {
                program: program.to_owned(),
                operation,
                code: out.code,
                stderr: out.stderr.trim().to_owned(),
            });
        }
        Ok(out)
    }

    async fn query(&self) -> Result<(CibVersion, Node), DriverError> {
        let out = self.run("cibadmin", "query", &["--query"]).await?;
        let cib = Node::parse(&out.stdout).map_err(|e| output_error("cibadmin", e))?;
        let number = |name: &str| -> Result<u64, DriverError> {
            let value = cib.attr(name).unwrap_or("0");
            value.parse().map_err(|_| DriverError::Output {
                program: "cibadmin".into(),
                detail: format!("the CIB's {name} is {value:?}"),
            })
        };
        if cib.name != "cib" {
            return Err(DriverError::Output {
                program: "cibadmin".into(),
                detail: format!("the query returned <{}>, not <cib>", cib.name),
            });
        }
        let version = CibVersion {
            admin_epoch: number("admin_epoch")?,
            epoch: number("epoch")?,
            num_updates: number("num_updates")?,
        };
        Ok((version, cib))
    }

    /// Sends `changes` as one diff from `version`.
    async fn write(&self, version: CibVersion, changes: &[Change]) -> Result<Written, DriverError> {
        let diff = diff(version, changes).to_xml();
        let args = ["--patch".to_owned(), "--xml-text".to_owned(), diff];
        let out = self
            .runner
            .run("cibadmin", &args)
            .await
            .map_err(|source| DriverError::Run {
                program: "cibadmin".into(),
                source,
            })?;
        match out.code {
            Some(0) => Ok(Written::Done(version.epoch + 1)),
            Some(EXIT_OLD_DATA) => Ok(Written::Stale),
            code => Err(DriverError::Tool {
                program: "cibadmin".into(),
                operation: "patch",
                code,
                stderr: out.stderr.trim().to_owned(),
            }),
        }
    }
}

fn output_error(program: &str, e: ParseError) -> DriverError {
    DriverError::Output {
        program: program.to_owned(),
        detail: e.to_string(),
    }
}

/// The format-2 diff of `changes` from `version`: applied only to a CIB at
/// exactly `version`, it leaves the CIB at the next epoch.
fn diff(version: CibVersion, changes: &[Change]) -> Node {
    let v = |n: Node, admin_epoch: u64, epoch: u64, num_updates: u64| {
        n.with_attr("admin_epoch", admin_epoch.to_string())
            .with_attr("epoch", epoch.to_string())
            .with_attr("num_updates", num_updates.to_string())
    };
    let mut diff = Node::new("diff").with_attr("format", "2").with_child(
        Node::new("version")
            .with_child(v(
                Node::new("source"),
                version.admin_epoch,
                version.epoch,
                version.num_updates,
            ))
            .with_child(v(
                Node::new("target"),
                version.admin_epoch,
                version.epoch + 1,
                0,
            )),
    );
    for change in changes {
        diff.children.push(match change {
            Change::Delete { path } => Node::new("change")
                .with_attr("operation", "delete")
                .with_attr("path", path),
            Change::Create { parent, node } => Node::new("change")
                .with_attr("operation", "create")
                .with_attr("path", parent)
                .with_child(node.clone()),
        });
    }
    diff
}

/// `PARENT/NAME[@id='ID']`: the XPath of a child by id. Ids come from our
/// checked types or from the CIB (where the schema makes them NCNames);
/// one with a quote would end the literal, so it is refused.
fn child_path(parent: &str, node: &Node) -> Result<String, DriverError> {
    let id = node.id();
    if id.is_empty() || id.contains(['\'', '"', ']', '[']) {
        return Err(DriverError::UnsafeId(id.to_owned()));
    }
    Ok(format!("{parent}/{}[@id='{id}']", node.name))
}

const CONFIGURATION: &str = "/cib/configuration";

fn section<'a>(cib: &'a Node, name: &str) -> Option<&'a Node> {
    cib.child("configuration")?.child(name)
}

/// Whether constraint `c` names resource `rsc` (directly or in a set).
fn references(c: &Node, rsc: &str) -> bool {
    ["rsc", "with-rsc", "first", "then"]
        .iter()
        .any(|a| c.attr(a) == Some(rsc))
        || c.children_named("resource_set")
            .flat_map(|s| s.children_named("resource_ref"))
            .any(|r| r.id() == rsc)
}

/// The databases whose group `cib` holds (see [`Driver::databases`]).
fn databases_in(cib: &Node) -> Vec<DatabaseName> {
    let Some(resources) = section(cib, "resources") else {
        return Vec::new();
    };
    resources
        .children_named("group")
        .filter_map(|g| {
            let database = DatabaseName::parse(g.id().strip_prefix("g-")?).ok()?;
            let members: Vec<&str> = g.children_named("primitive").map(Node::id).collect();
            (members == member_ids(&database)).then_some(database)
        })
        .collect()
}

/// The changes that make `cib` hold `desired` (a `<configuration>`).
fn apply_changes(desired: &Node, cib: &Node, group: &str) -> Result<Vec<Change>, DriverError> {
    let mut changes = Vec::new();
    // Cluster options: only the nvpairs the fragment sets, matched by
    // name, so that options set by others (dc-deadtime, ...) stay.
    if let Some(crm_config) = desired.child("crm_config") {
        let parent = format!("{CONFIGURATION}/crm_config");
        let current = section(cib, "crm_config");
        for set in &crm_config.children {
            let existing = current.and_then(|c| {
                c.children
                    .iter()
                    .find(|s| s.name == set.name && s.id() == set.id())
            });
            let Some(existing) = existing else {
                changes.push(Change::Create {
                    parent: parent.clone(),
                    node: set.clone(),
                });
                continue;
            };
            let set_path = child_path(&parent, existing)?;
            for pair in &set.children {
                let found = existing
                    .children_named("nvpair")
                    .find(|p| p.attr("name") == pair.attr("name"));
                if found == Some(pair) {
                    continue;
                }
                if let Some(found) = found {
                    changes.push(Change::Delete {
                        path: child_path(&set_path, found)?,
                    });
                }
                changes.push(Change::Create {
                    parent: set_path.clone(),
                    node: pair.clone(),
                });
            }
        }
    }
    // Resources and constraints: whole top-level elements, by id.
    for name in ["resources", "constraints"] {
        let parent = format!("{CONFIGURATION}/{name}");
        let current = section(cib, name);
        let wanted: Vec<&Node> = desired
            .child(name)
            .map(|s| s.children.iter().collect())
            .unwrap_or_default();
        for element in &wanted {
            let existing = current.and_then(|c| c.children.iter().find(|e| e.id() == element.id()));
            if existing == Some(*element) {
                continue;
            }
            if let Some(existing) = existing {
                changes.push(Change::Delete {
                    path: child_path(&parent, existing)?,
                });
            }
            changes.push(Change::Create {
                parent: parent.clone(),
                node: (*element).clone(),
            });
        }
        // The database's own constraints that the fragment no longer has.
        if name == "constraints" {
            let prefix = format!("{group}-");
            for c in current.map(|c| c.children.as_slice()).unwrap_or_default() {
                if c.id().starts_with(&prefix)
                    && references(c, group)
                    && !wanted.iter().any(|w| w.id() == c.id())
                {
                    changes.push(Change::Delete {
                        path: child_path(&parent, c)?,
                    });
                }
            }
        }
    }
    Ok(changes)
}

/// The changes that set `target-role=Stopped` on the group, and whether
/// the group exists.
fn stop_changes(cib: &Node, group: &str) -> Result<(bool, Vec<Change>), DriverError> {
    let parent = format!("{CONFIGURATION}/resources");
    let Some(g) =
        section(cib, "resources").and_then(|r| r.children_named("group").find(|g| g.id() == group))
    else {
        return Ok((false, Vec::new()));
    };
    let group_path = child_path(&parent, g)?;
    let stopped = |set_id: &str| {
        Node::new("nvpair")
            .with_attr("id", format!("{set_id}-target-role"))
            .with_attr("name", "target-role")
            .with_attr("value", "Stopped")
    };
    let mut changes = Vec::new();
    match g.child("meta_attributes") {
        None => {
            let set_id = format!("{group}-meta_attributes");
            changes.push(Change::Create {
                parent: group_path,
                node: Node::new("meta_attributes")
                    .with_attr("id", &set_id)
                    .with_child(stopped(&set_id)),
            });
        }
        Some(set) => {
            let set_path = child_path(&group_path, set)?;
            let current = set
                .children_named("nvpair")
                .find(|p| p.attr("name") == Some("target-role"));
            if current.and_then(|p| p.attr("value")) != Some("Stopped") {
                if let Some(current) = current {
                    changes.push(Change::Delete {
                        path: child_path(&set_path, current)?,
                    });
                }
                changes.push(Change::Create {
                    parent: set_path,
                    node: stopped(set.id()),
                });
            }
        }
    }
    Ok((true, changes))
}

/// The changes that delete the group and every constraint on it, and the
/// shared pieces when no other database uses them.
fn delete_changes(cib: &Node, group: &str) -> Result<Vec<Change>, DriverError> {
    let resources_path = format!("{CONFIGURATION}/resources");
    let constraints_path = format!("{CONFIGURATION}/constraints");
    let resources: &[Node] = section(cib, "resources")
        .map(|r| r.children.as_slice())
        .unwrap_or_default();
    let constraints: &[Node] = section(cib, "constraints")
        .map(|c| c.children.as_slice())
        .unwrap_or_default();
    let mut doomed: Vec<&str> = vec![group];
    // Another database on the pair: a group other than ours placed with
    // the shared openstack-info clone (every fragment has that
    // colocation).
    let others = constraints.iter().any(|c| {
        c.name == "rsc_colocation"
            && c.attr("with-rsc") == Some(OPENSTACK_INFO_CLONE)
            && c.attr("rsc") != Some(group)
    });
    if !others {
        doomed.push(OPENSTACK_INFO_CLONE);
        doomed.extend(
            resources
                .iter()
                .filter(|r| r.attr("class") == Some("stonith") && r.id().starts_with("fence-"))
                .map(Node::id),
        );
    }
    let mut changes = Vec::new();
    // Constraints first: a constraint naming a deleted resource would make
    // the configuration invalid for a moment.
    for c in constraints {
        if doomed.iter().any(|rsc| references(c, rsc)) {
            changes.push(Change::Delete {
                path: child_path(&constraints_path, c)?,
            });
        }
    }
    for r in resources {
        if doomed.contains(&r.id()) {
            changes.push(Change::Delete {
                path: child_path(&resources_path, r)?,
            });
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cib(configuration: &str) -> Node {
        Node::parse(&format!(
            r#"<cib admin_epoch="0" epoch="7" num_updates="3">{configuration}<status/></cib>"#
        ))
        .unwrap()
    }

    const DESIRED: &str = r#"<configuration>
        <crm_config><cluster_property_set id="opts"><nvpair id="opts-stonith-enabled" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
        <resources><group id="g-db"><primitive id="db-a" class="ocf" provider="heartbeat" type="Dummy"/></group></resources>
        <constraints><rsc_location id="g-db-on-pair" rsc="g-db" node="n1" score="100"/></constraints>
        </configuration>"#;

    #[test]
    fn an_empty_cib_gets_every_element() {
        let desired = Node::parse(DESIRED).unwrap();
        let changes = apply_changes(
            &desired,
            &cib("<configuration><crm_config/><nodes/><resources/><constraints/></configuration>"),
            "g-db",
        )
        .unwrap();
        let parents: Vec<&str> = changes
            .iter()
            .map(|c| match c {
                Change::Create { parent, .. } => parent.as_str(),
                Change::Delete { .. } => panic!("nothing to delete: {c:?}"),
            })
            .collect();
        assert_eq!(
            parents,
            [
                "/cib/configuration/crm_config",
                "/cib/configuration/resources",
                "/cib/configuration/constraints"
            ]
        );
    }

    #[test]
    fn a_cib_holding_the_fragment_needs_nothing_whatever_the_layout() {
        let desired = Node::parse(DESIRED).unwrap();
        // Same elements, other attribute order, an extra option, and
        // another database's elements.
        let current = cib(r#"<configuration>
            <crm_config><cluster_property_set id="opts"><nvpair id="opts-dc" name="dc-deadtime" value="2s"/><nvpair name="stonith-enabled" value="true" id="opts-stonith-enabled"/></cluster_property_set></crm_config>
            <resources><group id="g-other"/><group id="g-db"><primitive type="Dummy" id="db-a" class="ocf" provider="heartbeat"/></group></resources>
            <constraints><rsc_location id="g-db-on-pair" rsc="g-db" node="n1" score="100"/><rsc_location id="cli-ban-g-db" rsc="g-db" node="n2" score="-INFINITY"/></constraints>
            </configuration>"#);
        assert_eq!(apply_changes(&desired, &current, "g-db").unwrap(), []);
    }

    #[test]
    fn differing_elements_are_replaced_and_stale_own_constraints_deleted() {
        let desired = Node::parse(DESIRED).unwrap();
        let current = cib(r#"<configuration>
            <crm_config><cluster_property_set id="opts"><nvpair id="x" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <resources><group id="g-db"><primitive id="db-a" class="ocf" provider="heartbeat" type="Stateful"/></group></resources>
            <constraints><rsc_location id="g-db-on-pair" rsc="g-db" node="n1" score="100"/><rsc_order id="g-db-old" first="x" then="g-db"/><rsc_order id="g-dbx-old" first="x" then="g-dbx"/></constraints>
            </configuration>"#);
        let changes = apply_changes(&desired, &current, "g-db").unwrap();
        let deleted: Vec<&str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Delete { path } => Some(path.as_str()),
                Change::Create { .. } => None,
            })
            .collect();
        assert_eq!(
            deleted,
            [
                "/cib/configuration/crm_config/cluster_property_set[@id='opts']/nvpair[@id='x']",
                "/cib/configuration/resources/group[@id='g-db']",
                "/cib/configuration/constraints/rsc_order[@id='g-db-old']",
            ]
        );
        assert_eq!(changes.len(), 5);
    }

    #[test]
    fn the_diff_names_the_version_it_was_computed_from() {
        let version = CibVersion {
            admin_epoch: 1,
            epoch: 7,
            num_updates: 3,
        };
        let text = diff(
            version,
            &[Change::Delete {
                path: "/cib/configuration/resources/group[@id='g-db']".into(),
            }],
        )
        .to_xml();
        assert_eq!(
            text,
            "<diff format=\"2\"><version><source admin_epoch=\"1\" epoch=\"7\" num_updates=\"3\"/>\
             <target admin_epoch=\"1\" epoch=\"8\" num_updates=\"0\"/></version>\
             <change operation=\"delete\" path=\"/cib/configuration/resources/group[@id=&apos;g-db&apos;]\"/></diff>"
        );
    }

    #[test]
    fn ids_that_would_break_an_xpath_are_refused() {
        let node = Node::new("group").with_attr("id", "a']|//*[@id='b");
        assert!(matches!(
            child_path("/cib", &node),
            Err(DriverError::UnsafeId(_))
        ));
    }

    #[test]
    fn removing_the_last_database_takes_the_shared_pieces_too() {
        let config = r#"<configuration><resources>
              <clone id="openstack-info-clone"/><group id="g-db"/><group id="g-two"/>
              <primitive id="fence-n1" class="stonith" type="fence_dummy"/><primitive id="keep" class="ocf"/>
            </resources><constraints>
              <rsc_colocation id="g-db-with-openstack-info" rsc="g-db" with-rsc="openstack-info-clone" score="INFINITY"/>
              <rsc_colocation id="g-two-with-openstack-info" rsc="g-two" with-rsc="openstack-info-clone" score="INFINITY"/>
              <rsc_location id="fence-n1-avoids-n1" rsc="fence-n1" node="n1" score="-INFINITY"/>
              <rsc_location id="cli-ban-g-db" rsc="g-db" node="n1" score="-INFINITY"/>
            </constraints></configuration>"#;
        let paths = |changes: Vec<Change>| -> Vec<String> {
            changes
                .into_iter()
                .map(|c| match c {
                    Change::Delete { path } => path,
                    Change::Create { .. } => panic!("{c:?}"),
                })
                .collect()
        };
        // Another database remains: only our group and its constraints.
        let first = paths(delete_changes(&cib(config), "g-db").unwrap());
        assert_eq!(
            first,
            [
                "/cib/configuration/constraints/rsc_colocation[@id='g-db-with-openstack-info']",
                "/cib/configuration/constraints/rsc_location[@id='cli-ban-g-db']",
                "/cib/configuration/resources/group[@id='g-db']",
            ]
        );
        // The last one: the clone and the fence devices go too.
        let last = cib(&config
            .replace(r#"<group id="g-db"/>"#, "")
            .replace(
                r#"<rsc_colocation id="g-db-with-openstack-info" rsc="g-db" with-rsc="openstack-info-clone" score="INFINITY"/>"#,
                "",
            ));
        let second = paths(delete_changes(&last, "g-two").unwrap());
        assert_eq!(
            second,
            [
                "/cib/configuration/constraints/rsc_colocation[@id='g-two-with-openstack-info']",
                "/cib/configuration/constraints/rsc_location[@id='fence-n1-avoids-n1']",
                "/cib/configuration/resources/clone[@id='openstack-info-clone']",
                "/cib/configuration/resources/group[@id='g-two']",
                "/cib/configuration/resources/primitive[@id='fence-n1']",
            ]
        );
    }

    #[test]
    fn only_groups_shaped_as_dbaas_makes_them_are_databases() {
        let members = |d: &str| {
            member_ids(&DatabaseName::parse(d).unwrap())
                .iter()
                .map(|m| {
                    format!(
                        r#"<primitive id="{m}" class="ocf" provider="heartbeat" type="Dummy"/>"#
                    )
                })
                .collect::<String>()
        };
        let config = format!(
            r#"<configuration><resources>
              <group id="g-orders">{}</group>
              <group id="g-dbaas-billing-0a1b2c3d"><meta_attributes id="m"/>{}</group>
              <group id="g-web"><primitive id="web-a" class="ocf" provider="heartbeat" type="Dummy"/></group>
              <group id="g-half">{}</group>
              <group id="g-Bad">{}</group>
              <group id="apache">{}</group>
            </resources></configuration>"#,
            members("orders"),
            members("dbaas-billing-0a1b2c3d"),
            // Only the first member: not a group dbaas made.
            members("half").split_inclusive("/>").next().unwrap(),
            members("orders"),
            members("orders"),
        );
        let names: Vec<String> = databases_in(&cib(&config))
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(names, ["orders", "dbaas-billing-0a1b2c3d"]);
    }

    #[test]
    fn stopping_sets_target_role_once() {
        let running = cib(r#"<configuration><resources><group id="g-db">
            <meta_attributes id="g-db-meta_attributes"><nvpair id="s" name="resource-stickiness" value="1000"/></meta_attributes>
            </group></resources></configuration>"#);
        let (found, changes) = stop_changes(&running, "g-db").unwrap();
        assert!(found);
        assert_eq!(changes.len(), 1);
        let Change::Create { parent, node } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(
            parent,
            "/cib/configuration/resources/group[@id='g-db']/meta_attributes[@id='g-db-meta_attributes']"
        );
        assert_eq!(node.attr("value"), Some("Stopped"));

        let stopped = cib(r#"<configuration><resources><group id="g-db">
            <meta_attributes id="m"><nvpair id="m-target-role" name="target-role" value="Stopped"/></meta_attributes>
            </group></resources></configuration>"#);
        assert_eq!(stop_changes(&stopped, "g-db").unwrap(), (true, vec![]));
        assert_eq!(
            stop_changes(&cib("<configuration><resources/></configuration>"), "g-db").unwrap(),
            (false, vec![])
        );
    }
}
