//! A database's operating status as the cluster reports it: the group's
//! resources from `crm_mon --output-as=xml`, each with its role, node and
//! failures, summed up as one [`GroupState`].

use crate::xml::{Node, ParseError};

/// The role of a resource as `crm_mon` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceRole {
    /// Not running anywhere.
    Stopped,
    /// Its start is in progress.
    Starting,
    /// Running.
    Started,
    /// Its stop is in progress.
    Stopping,
    /// Moving between nodes by live migration.
    Migrating,
    /// A promotable clone's instance in the promoted role.
    Promoted,
    /// A promotable clone's instance in the unpromoted role.
    Unpromoted,
    /// A role this version of the driver does not know, as reported.
    Other(String),
}

impl ResourceRole {
    fn parse(role: &str) -> ResourceRole {
        match role {
            "Stopped" => ResourceRole::Stopped,
            "Starting" => ResourceRole::Starting,
            "Started" => ResourceRole::Started,
            "Stopping" => ResourceRole::Stopping,
            "Migrating" => ResourceRole::Migrating,
            // Pacemaker 2.1 still prints the old names in some outputs.
            "Promoted" | "Master" => ResourceRole::Promoted,
            "Unpromoted" | "Slave" => ResourceRole::Unpromoted,
            other => ResourceRole::Other(other.to_owned()),
        }
    }
}

/// One member of a database's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceStatus {
    /// The resource id (e.g. `orders-db-volume`).
    pub id: String,
    /// The agent, `class:provider:type`.
    pub agent: String,
    /// What the resource is doing now.
    pub role: ResourceRole,
    /// The role the configuration asks for, when one is set.
    pub target_role: Option<String>,
    /// Whether it runs (or may run) somewhere.
    pub active: bool,
    /// Whether the cluster considers it failed, or an operation of it
    /// failed and the failure is not cleaned up yet.
    pub failed: bool,
    /// Whether the cluster may act on it (false in maintenance).
    pub managed: bool,
    /// Whether the cluster cannot act on it because a stop failed and
    /// fencing could not make the node safe.
    pub blocked: bool,
    /// The nodes it runs on (one for a healthy primitive).
    pub nodes: Vec<String>,
    /// The failed operations recorded for it, as `TASK on NODE: REASON`.
    pub failures: Vec<String>,
}

/// What the group of a database is doing, in one word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupState {
    /// The cluster has no group for the database.
    Absent,
    /// Every member runs, all on this node.
    Started(String),
    /// No member runs.
    Stopped,
    /// Some members run and some do not, or they are starting, stopping
    /// or moving: the cluster is in the middle of a transition.
    Transitioning,
    /// A member failed or is blocked: the database needs attention (the
    /// cluster may still be recovering it).
    Failed,
}

/// The operating status of one database as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseStatus {
    /// The group's id, `g-NAME`.
    pub group_id: String,
    /// Whether the group exists in the cluster's configuration.
    pub present: bool,
    /// Whether the group is disabled (`target-role=Stopped`).
    pub disabled: bool,
    /// The group's members in start order.
    pub resources: Vec<ResourceStatus>,
}

impl DatabaseStatus {
    /// Reads the status of the group `group_id` from the XML that
    /// `crm_mon --output-as=xml` printed.
    pub(crate) fn from_crm_mon(group_id: &str, xml: &str) -> Result<Self, ParseError> {
        let root = Node::parse(xml)?;
        let mut status = DatabaseStatus {
            group_id: group_id.to_owned(),
            present: false,
            disabled: false,
            resources: Vec::new(),
        };
        let Some(group) = root
            .child("resources")
            .and_then(|r| r.children_named("group").find(|g| g.id() == group_id))
        else {
            return Ok(status);
        };
        status.present = true;
        status.disabled = group.attr("disabled") == Some("true");
        let failures: Vec<&Node> = root
            .child("failures")
            .map(|f| f.children_named("failure").collect())
            .unwrap_or_default();
        let flag = |n: &Node, name: &str| n.attr(name) == Some("true");
        for r in group.children_named("resource") {
            let id = r.id().to_owned();
            let failures: Vec<String> = failures
                .iter()
                .filter(|f| {
                    // op_key is RSC_TASK_INTERVAL; ids may hold '_' in
                    // general, so match the whole prefix with the task.
                    let task = f.attr("task").unwrap_or("");
                    f.attr("op_key")
                        .is_some_and(|k| k.starts_with(&format!("{id}_{task}_")))
                })
                .map(|f| {
                    let reason = f
                        .attr("exitreason")
                        .filter(|r| !r.is_empty())
                        .or(f.attr("exitstatus"))
                        .unwrap_or("failed");
                    format!(
                        "{} on {}: {reason}",
                        f.attr("task").unwrap_or("operation"),
                        f.attr("node").unwrap_or("?")
                    )
                })
                .collect();
            status.resources.push(ResourceStatus {
                agent: r.attr("resource_agent").unwrap_or("").to_owned(),
                role: ResourceRole::parse(r.attr("role").unwrap_or("")),
                target_role: r.attr("target_role").map(str::to_owned),
                active: flag(r, "active"),
                failed: flag(r, "failed") || !failures.is_empty(),
                managed: r.attr("managed") != Some("false"),
                blocked: flag(r, "blocked"),
                nodes: r
                    .children_named("node")
                    .filter_map(|n| n.attr("name"))
                    .map(str::to_owned)
                    .collect(),
                failures,
                id,
            });
        }
        Ok(status)
    }

    /// The node the whole group runs on: every member started there.
    pub fn started_on(&self) -> Option<&str> {
        let first = self.resources.first()?;
        let [node] = first.nodes.as_slice() else {
            return None;
        };
        self.resources
            .iter()
            .all(|r| r.role == ResourceRole::Started && r.nodes.as_slice() == [node.clone()])
            .then_some(node.as_str())
    }

    /// The group's state in one word (see [`GroupState`]).
    pub fn state(&self) -> GroupState {
        if !self.present {
            return GroupState::Absent;
        }
        if self.resources.iter().any(|r| r.failed || r.blocked) {
            return GroupState::Failed;
        }
        if let Some(node) = self.started_on() {
            return GroupState::Started(node.to_owned());
        }
        if self
            .resources
            .iter()
            .all(|r| r.role == ResourceRole::Stopped && r.nodes.is_empty())
        {
            return GroupState::Stopped;
        }
        GroupState::Transitioning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped like Pacemaker 2.1.5's crm_mon --output-as=xml (trimmed).
    const STARTED: &str = r#"<pacemaker-result api-version="2.25" request="crm_mon --output-as=xml">
  <resources>
    <resource id="other" resource_agent="ocf:heartbeat:Dummy" role="Started" active="true" orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false" nodes_running_on="1">
      <node name="node1" id="1" cached="true"/>
    </resource>
    <group id="g-db" number_resources="2" managed="true" disabled="false">
      <resource id="db-volume" resource_agent="ocf:heartbeat:Dummy" role="Started" active="true" orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false" nodes_running_on="1">
        <node name="node1" id="1" cached="true"/>
      </resource>
      <resource id="db-docker" resource_agent="ocf:heartbeat:anything" role="Started" active="true" orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false" nodes_running_on="1">
        <node name="node1" id="1" cached="true"/>
      </resource>
    </group>
  </resources>
  <status code="0" message="OK"/>
</pacemaker-result>"#;

    #[test]
    fn a_started_group_is_started_on_its_node() {
        let s = DatabaseStatus::from_crm_mon("g-db", STARTED).unwrap();
        assert!(s.present && !s.disabled);
        assert_eq!(s.resources.len(), 2);
        assert_eq!(s.resources[0].id, "db-volume");
        assert_eq!(s.resources[1].agent, "ocf:heartbeat:anything");
        assert_eq!(s.started_on(), Some("node1"));
        assert_eq!(s.state(), GroupState::Started("node1".into()));
    }

    #[test]
    fn a_missing_group_is_absent() {
        let s = DatabaseStatus::from_crm_mon("g-nope", STARTED).unwrap();
        assert!(!s.present);
        assert_eq!(s.state(), GroupState::Absent);
    }

    #[test]
    fn stopped_partial_and_failed_groups() {
        let stopped = r#"<pacemaker-result><resources>
            <group id="g-db" number_resources="2" managed="true" disabled="true">
              <resource id="db-volume" resource_agent="ocf:heartbeat:Dummy" role="Stopped" target_role="Stopped" active="false" blocked="false" managed="true" failed="false" nodes_running_on="0"/>
              <resource id="db-docker" resource_agent="ocf:heartbeat:anything" role="Stopped" target_role="Stopped" active="false" blocked="false" managed="true" failed="false" nodes_running_on="0"/>
            </group></resources></pacemaker-result>"#;
        let s = DatabaseStatus::from_crm_mon("g-db", stopped).unwrap();
        assert!(s.disabled);
        assert_eq!(s.resources[0].target_role.as_deref(), Some("Stopped"));
        assert_eq!(s.state(), GroupState::Stopped);

        let partial = stopped.replacen(
            r#"role="Stopped" target_role="Stopped" active="false" blocked="false" managed="true" failed="false" nodes_running_on="0"/>"#,
            r#"role="Started" active="true" blocked="false" managed="true" failed="false" nodes_running_on="1"><node name="node1" id="1" cached="true"/></resource>"#,
            1,
        );
        let s = DatabaseStatus::from_crm_mon("g-db", &partial).unwrap();
        assert_eq!(s.resources[0].nodes, ["node1"]);
        assert_eq!(s.started_on(), None);
        assert_eq!(s.state(), GroupState::Transitioning);

        let failed = format!(
            "{}<failures><failure op_key=\"db-docker_start_0\" node=\"node1\" exitstatus=\"not installed\" exitreason=\"\" exitcode=\"5\" call=\"20\" status=\"complete\" task=\"start\" interval=\"0\"/></failures></pacemaker-result>",
            partial.trim_end_matches("</pacemaker-result>")
        );
        let s = DatabaseStatus::from_crm_mon("g-db", &failed).unwrap();
        assert!(!s.resources[0].failed);
        assert!(s.resources[1].failed);
        assert_eq!(s.resources[1].failures, ["start on node1: not installed"]);
        assert_eq!(s.state(), GroupState::Failed);
    }
}
