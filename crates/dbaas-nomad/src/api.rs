//! Request and response bodies of the job, allocation, evaluation,
//! deployment and log endpoints.
//!
//! Requests keep the same `Option`-and-`extra` discipline as [`Job`]. The
//! response types use plain fields with defaults instead: they are only
//! read, so "absent" and "zero" need not be told apart, and Go's `null` for
//! an empty slice or map is read as empty.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::job::{Extra, Job, Resources};
use crate::serde_util::{nanos, nullable};

fn is_false(b: &bool) -> bool {
    !*b
}

/// Body of `POST /v1/jobs` (register a new job or a new version).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobRegisterRequest {
    /// The job to register.
    pub job: Job,
    /// Only register if the job's current `JobModifyIndex` equals
    /// `job_modify_index` (check-and-set).
    #[serde(skip_serializing_if = "is_false")]
    pub enforce_index: bool,
    /// The index check-and-set compares against; 0 means "only if the job
    /// does not exist yet".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_modify_index: Option<u64>,
    /// Override soft-mandatory Sentinel policies (Enterprise).
    #[serde(skip_serializing_if = "is_false")]
    pub policy_override: bool,
    /// Keep the running groups' counts instead of the job's.
    #[serde(skip_serializing_if = "is_false")]
    pub preserve_counts: bool,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

impl JobRegisterRequest {
    /// A registration of `job` that overwrites whatever version exists.
    pub fn new(job: Job) -> Self {
        Self {
            job,
            ..Self::default()
        }
    }

    /// Makes the registration conditional: it only succeeds if the job's
    /// current `JobModifyIndex` is `index` (0: the job must not exist), so a
    /// concurrent change is detected instead of overwritten.
    pub fn check_and_set(mut self, index: u64) -> Self {
        self.enforce_index = true;
        self.job_modify_index = Some(index);
        self
    }
}

/// Answer to a job registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobRegisterResponse {
    /// The evaluation created to schedule the job (empty for periodic or
    /// parameterized jobs, which are not scheduled themselves).
    #[serde(rename = "EvalID", deserialize_with = "nullable")]
    pub eval_id: String,
    /// Raft index of the evaluation.
    pub eval_create_index: u64,
    /// The job's new `JobModifyIndex`: the next check-and-set value.
    pub job_modify_index: u64,
    /// Non-fatal problems Nomad found in the job, one string.
    #[serde(deserialize_with = "nullable")]
    pub warnings: String,
    /// Raft index of the write.
    pub index: u64,
    /// Milliseconds since the answering server heard from the leader.
    pub last_contact: u64,
    /// Whether the answering server knew a leader.
    pub known_leader: bool,
}

/// Answer to `DELETE /v1/job/:id` (stop, optionally purge).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobStopResponse {
    /// The evaluation that stops the job's allocations.
    #[serde(rename = "EvalID", deserialize_with = "nullable")]
    pub eval_id: String,
    /// Raft index of the evaluation.
    pub eval_create_index: u64,
    /// The job's `JobModifyIndex` after the stop.
    pub job_modify_index: u64,
}

/// Body of `POST /v1/jobs/parse`: HCL to the JSON job form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobParseRequest {
    /// The job specification in HCL, sent whole (never spliced).
    #[serde(rename = "JobHCL")]
    pub job_hcl: String,
    /// Fill in Nomad's defaults in the answer.
    #[serde(rename = "Canonicalize")]
    pub canonicalize: bool,
    /// HCL2 variable values, in `-var-file` syntax.
    #[serde(rename = "Variables", skip_serializing_if = "Option::is_none")]
    pub variables: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Body of `POST /v1/job/:id/plan`: a dry run of a registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobPlanRequest {
    /// The job as it would be registered.
    pub job: Job,
    /// Ask for the difference with the current version.
    pub diff: bool,
    /// Override soft-mandatory Sentinel policies (Enterprise).
    pub policy_override: bool,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Answer to a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobPlanResponse {
    /// Raft index the plan was made at.
    pub index: u64,
    /// The `JobModifyIndex` to register with check-and-set so the
    /// registration is the one planned.
    pub job_modify_index: u64,
    /// What would change, as Nomad's diff tree (kept untyped: it is for
    /// showing, and its shape varies with the job).
    pub diff: Option<Value>,
    /// Per-group counts of placements, updates and stops.
    pub annotations: Option<PlanAnnotations>,
    /// Groups that could not be placed, and why.
    #[serde(rename = "FailedTGAllocs", deserialize_with = "nullable")]
    pub failed_tg_allocs: BTreeMap<String, AllocationMetric>,
    /// Evaluations the plan would create (for blocked placements).
    #[serde(deserialize_with = "nullable")]
    pub created_evals: Vec<Evaluation>,
    /// Next launch of a periodic job (RFC 3339; Go's zero time if none).
    #[serde(deserialize_with = "nullable")]
    pub next_periodic_launch: String,
    /// Non-fatal problems, one string.
    #[serde(deserialize_with = "nullable")]
    pub warnings: String,
}

/// The scheduler's summary of a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PlanAnnotations {
    /// Per task group, what the scheduler would do.
    #[serde(rename = "DesiredTGUpdates", deserialize_with = "nullable")]
    pub desired_tg_updates: BTreeMap<String, DesiredUpdates>,
}

/// Counts of what the scheduler would do to one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DesiredUpdates {
    /// Allocations left alone.
    pub ignore: u64,
    /// New allocations.
    pub place: u64,
    /// Allocations moved off draining nodes.
    pub migrate: u64,
    /// Allocations stopped.
    pub stop: u64,
    /// Allocations updated without restart.
    pub in_place_update: u64,
    /// Allocations replaced.
    pub destructive_update: u64,
    /// Canaries placed.
    pub canary: u64,
    /// Lower-priority allocations evicted.
    pub preemptions: u64,
}

/// Body of `POST /v1/job/:id/dispatch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobDispatchRequest {
    /// The payload, base64-encoded (at most 16 KiB before encoding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Meta values for the child job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
    /// Put into the child job's ID (`<parent>/dispatch-<template>-<time>-<random>`),
    /// so a job's children can be listed by prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_prefix_template: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

impl JobDispatchRequest {
    /// Sets the payload from raw bytes (base64 is what Nomad expects).
    pub fn with_payload(mut self, bytes: &[u8]) -> Self {
        self.payload = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self
    }
}

/// Answer to a dispatch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobDispatchResponse {
    /// The child job's ID (`parent/dispatch-<time>-<random>`).
    #[serde(rename = "DispatchedJobID", deserialize_with = "nullable")]
    pub dispatched_job_id: String,
    /// The evaluation scheduling the child.
    #[serde(rename = "EvalID", deserialize_with = "nullable")]
    pub eval_id: String,
    /// Raft index of the evaluation.
    pub eval_create_index: u64,
    /// Raft index of the child job's creation.
    pub job_create_index: u64,
    /// Raft index of the write.
    pub index: u64,
}

/// An entry of `GET /v1/jobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobListStub {
    /// The job's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The parent's ID for a child job.
    #[serde(rename = "ParentID", deserialize_with = "nullable")]
    pub parent_id: String,
    /// Display name.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Namespace.
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// Scheduler type.
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    /// Priority.
    pub priority: i64,
    /// Stopped by a user.
    pub stop: bool,
    /// `pending`, `running` or `dead`.
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    /// Detail for `status`.
    #[serde(deserialize_with = "nullable")]
    pub status_description: String,
    /// Counts of allocations by state, per group.
    pub job_summary: Option<JobSummary>,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Raft index of the last specification change.
    pub job_modify_index: u64,
    /// Submission time of the current version, Unix nanoseconds.
    pub submit_time: i64,
}

/// Allocation counts of a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobSummary {
    /// The job's ID.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// Namespace.
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// Per group, allocation counts by state.
    #[serde(deserialize_with = "nullable")]
    pub summary: BTreeMap<String, TaskGroupSummary>,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
}

/// Allocation counts of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskGroupSummary {
    /// Waiting for placement.
    pub queued: u64,
    /// Finished successfully.
    pub complete: u64,
    /// Failed.
    pub failed: u64,
    /// Running.
    pub running: u64,
    /// Placed, not yet running.
    pub starting: u64,
    /// On a node that went away.
    pub lost: u64,
    /// On a node that is disconnected.
    pub unknown: u64,
}

/// An entry of `GET /v1/job/:id/allocations` and `GET /v1/allocations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocationListStub {
    /// The allocation's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The evaluation that placed it.
    #[serde(rename = "EvalID", deserialize_with = "nullable")]
    pub eval_id: String,
    /// `job.group[index]`.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Namespace.
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// The node it is placed on.
    #[serde(rename = "NodeID", deserialize_with = "nullable")]
    pub node_id: String,
    /// That node's name.
    #[serde(deserialize_with = "nullable")]
    pub node_name: String,
    /// The job's ID.
    #[serde(rename = "JobID", deserialize_with = "nullable")]
    pub job_id: String,
    /// The job version it runs.
    pub job_version: u64,
    /// The group it runs.
    #[serde(deserialize_with = "nullable")]
    pub task_group: String,
    /// What the scheduler wants: `run`, `stop` or `evict`.
    #[serde(deserialize_with = "nullable")]
    pub desired_status: String,
    /// Why.
    #[serde(deserialize_with = "nullable")]
    pub desired_description: String,
    /// What the client reports: `pending`, `running`, `complete`,
    /// `failed`, `lost` or `unknown`.
    #[serde(deserialize_with = "nullable")]
    pub client_status: String,
    /// Detail for `client_status`.
    #[serde(deserialize_with = "nullable")]
    pub client_description: String,
    /// State of each task, by name.
    #[serde(deserialize_with = "nullable")]
    pub task_states: BTreeMap<String, TaskState>,
    /// Health within the deployment that placed it, if any.
    pub deployment_status: Option<AllocDeploymentStatus>,
    /// Past reschedules leading to this allocation.
    pub reschedule_tracker: Option<RescheduleTracker>,
    /// The allocation this one replaced.
    #[serde(deserialize_with = "nullable")]
    pub previous_allocation: String,
    /// The allocation that replaced this one.
    #[serde(deserialize_with = "nullable")]
    pub next_allocation: String,
    /// Evaluation that will reschedule it after a failure.
    #[serde(rename = "FollowupEvalID", deserialize_with = "nullable")]
    pub followup_eval_id: String,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Creation time, Unix nanoseconds.
    pub create_time: i64,
    /// Last change, Unix nanoseconds.
    pub modify_time: i64,
}

/// `GET /v1/allocation/:id`: an allocation with its job and resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Allocation {
    /// The allocation's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The evaluation that placed it.
    #[serde(rename = "EvalID", deserialize_with = "nullable")]
    pub eval_id: String,
    /// `job.group[index]`.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Namespace.
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// The node it is placed on.
    #[serde(rename = "NodeID", deserialize_with = "nullable")]
    pub node_id: String,
    /// That node's name.
    #[serde(deserialize_with = "nullable")]
    pub node_name: String,
    /// The job's ID.
    #[serde(rename = "JobID", deserialize_with = "nullable")]
    pub job_id: String,
    /// The job version it was placed for.
    pub job: Option<Job>,
    /// The group it runs.
    #[serde(deserialize_with = "nullable")]
    pub task_group: String,
    /// Resources given to the allocation as a whole (legacy form, still
    /// where older Nomad reports the assigned ports).
    pub resources: Option<Resources>,
    /// Resources given to each task (legacy form).
    #[serde(deserialize_with = "nullable")]
    pub task_resources: BTreeMap<String, Resources>,
    /// Resources in the current form (ports, devices, cores), kept
    /// untyped until dbaas needs them.
    pub allocated_resources: Option<Value>,
    /// The deployment that placed it.
    #[serde(rename = "DeploymentID", deserialize_with = "nullable")]
    pub deployment_id: String,
    /// What the scheduler wants: `run`, `stop` or `evict`.
    #[serde(deserialize_with = "nullable")]
    pub desired_status: String,
    /// Why.
    #[serde(deserialize_with = "nullable")]
    pub desired_description: String,
    /// What the client reports.
    #[serde(deserialize_with = "nullable")]
    pub client_status: String,
    /// Detail for `client_status`.
    #[serde(deserialize_with = "nullable")]
    pub client_description: String,
    /// State of each task, by name.
    #[serde(deserialize_with = "nullable")]
    pub task_states: BTreeMap<String, TaskState>,
    /// Health within its deployment, if any.
    pub deployment_status: Option<AllocDeploymentStatus>,
    /// Past reschedules leading to this allocation.
    pub reschedule_tracker: Option<RescheduleTracker>,
    /// The allocation this one replaced (when Nomad wrote the key twice,
    /// the last value, as Go reads it).
    #[serde(deserialize_with = "nullable")]
    pub previous_allocation: String,
    /// The allocation that replaced this one.
    #[serde(deserialize_with = "nullable")]
    pub next_allocation: String,
    /// Evaluation that will reschedule it after a failure.
    #[serde(rename = "FollowupEvalID", deserialize_with = "nullable")]
    pub followup_eval_id: String,
    /// How placement went.
    pub metrics: Option<AllocationMetric>,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Raft index of the last server-side change.
    pub alloc_modify_index: u64,
    /// Creation time, Unix nanoseconds.
    pub create_time: i64,
    /// Last change, Unix nanoseconds.
    pub modify_time: i64,
}

/// The client's view of one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskState {
    /// `pending`, `running` or `dead`.
    #[serde(deserialize_with = "nullable")]
    pub state: String,
    /// Dead because it failed (not merely finished).
    pub failed: bool,
    /// Restarts so far.
    pub restarts: u64,
    /// Last restart (RFC 3339; Go's zero time `0001-01-01T00:00:00Z` or
    /// `null` if never).
    pub last_restart: Option<String>,
    /// Start time (RFC 3339; zero time or `null` if not started).
    pub started_at: Option<String>,
    /// End time (RFC 3339; zero time or `null` if still running).
    pub finished_at: Option<String>,
    /// What happened to the task, oldest first (Nomad keeps the last 10).
    #[serde(deserialize_with = "nullable")]
    pub events: Vec<TaskEvent>,
}

/// Something that happened to a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskEvent {
    /// `Received`, `Started`, `Terminated`, `Driver Failure`, ...
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    /// When, in Unix nanoseconds.
    pub time: i64,
    /// This event fails the task.
    pub fails_task: bool,
    /// A message, for some event types.
    #[serde(deserialize_with = "nullable")]
    pub message: String,
    /// The message Nomad shows for the event.
    #[serde(deserialize_with = "nullable")]
    pub display_message: String,
    /// The driver's error, if the driver failed.
    #[serde(deserialize_with = "nullable")]
    pub driver_error: String,
    /// Progress reported by the driver.
    #[serde(deserialize_with = "nullable")]
    pub driver_message: String,
    /// Task setup failure.
    #[serde(deserialize_with = "nullable")]
    pub setup_error: String,
    /// Why the task is being restarted.
    #[serde(deserialize_with = "nullable")]
    pub restart_reason: String,
    /// Exit code, for `Terminated`.
    pub exit_code: i64,
    /// Signal that ended the task, for `Terminated`.
    pub signal: i64,
    /// Event details as key/value strings.
    #[serde(deserialize_with = "nullable")]
    pub details: BTreeMap<String, String>,
}

/// An allocation's health within a deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocDeploymentStatus {
    /// `None` until the health check deadline decides.
    pub healthy: Option<bool>,
    /// When health was decided (RFC 3339).
    pub timestamp: Option<String>,
    /// Placed as a canary.
    pub canary: bool,
    /// Raft index of the last change.
    pub modify_index: u64,
}

/// The reschedule history of an allocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RescheduleTracker {
    /// Past reschedules, oldest first.
    #[serde(deserialize_with = "nullable")]
    pub events: Vec<RescheduleEvent>,
}

/// One past reschedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RescheduleEvent {
    /// The allocation replaced.
    #[serde(rename = "PrevAllocID", deserialize_with = "nullable")]
    pub prev_alloc_id: String,
    /// The node it ran on.
    #[serde(rename = "PrevNodeID", deserialize_with = "nullable")]
    pub prev_node_id: String,
    /// When, in Unix nanoseconds.
    pub reschedule_time: i64,
    /// Wait applied before rescheduling, in nanoseconds (published both as
    /// a number and as a string; both are read).
    #[serde(deserialize_with = "nanos")]
    pub delay: i64,
}

/// How placement of an allocation or group went (also why it failed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocationMetric {
    /// Nodes considered.
    pub nodes_evaluated: u64,
    /// Nodes ruled out by constraints.
    pub nodes_filtered: u64,
    /// Nodes in the node pool.
    pub nodes_in_pool: u64,
    /// Eligible nodes per datacenter.
    #[serde(deserialize_with = "nullable")]
    pub nodes_available: BTreeMap<String, u64>,
    /// Nodes ruled out per node class.
    #[serde(deserialize_with = "nullable")]
    pub class_filtered: BTreeMap<String, u64>,
    /// Nodes ruled out per constraint.
    #[serde(deserialize_with = "nullable")]
    pub constraint_filtered: BTreeMap<String, u64>,
    /// Nodes without enough resources.
    pub nodes_exhausted: u64,
    /// Exhausted nodes per node class.
    #[serde(deserialize_with = "nullable")]
    pub class_exhausted: BTreeMap<String, u64>,
    /// Exhausted nodes per resource (`cpu`, `memory`, ...): the usual
    /// answer to "why is my database not placed".
    #[serde(deserialize_with = "nullable")]
    pub dimension_exhausted: BTreeMap<String, u64>,
    /// Further identical failures folded into this one.
    pub coalesced_failures: u64,
    /// Time spent placing, in nanoseconds.
    pub allocation_time: i64,
}

/// An evaluation: one run of the scheduler for a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Evaluation {
    /// The evaluation's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Namespace.
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// Priority (the job's).
    pub priority: i64,
    /// Scheduler type.
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    /// What triggered it (`job-register`, `node-update`, ...).
    #[serde(deserialize_with = "nullable")]
    pub triggered_by: String,
    /// The job evaluated.
    #[serde(rename = "JobID", deserialize_with = "nullable")]
    pub job_id: String,
    /// The job's `JobModifyIndex` when triggered.
    pub job_modify_index: u64,
    /// The node, for node-triggered evaluations.
    #[serde(rename = "NodeID", deserialize_with = "nullable")]
    pub node_id: String,
    /// The deployment, for deployment-triggered evaluations.
    #[serde(rename = "DeploymentID", deserialize_with = "nullable")]
    pub deployment_id: String,
    /// `pending`, `complete`, `failed`, `blocked` or `canceled`.
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    /// Detail for `status`.
    #[serde(deserialize_with = "nullable")]
    pub status_description: String,
    /// Delay before it runs, in nanoseconds.
    #[serde(deserialize_with = "nanos")]
    pub wait: i64,
    /// Evaluation following this one (rolling updates).
    #[serde(deserialize_with = "nullable")]
    pub next_eval: String,
    /// Evaluation preceding this one.
    #[serde(deserialize_with = "nullable")]
    pub previous_eval: String,
    /// Evaluation created for placements that could not be made.
    #[serde(deserialize_with = "nullable")]
    pub blocked_eval: String,
    /// Groups that could not be placed, and why.
    #[serde(rename = "FailedTGAllocs", deserialize_with = "nullable")]
    pub failed_tg_allocs: BTreeMap<String, AllocationMetric>,
    /// Allocations still waiting for placement, per group.
    #[serde(deserialize_with = "nullable")]
    pub queued_allocations: BTreeMap<String, u64>,
    /// Related evaluations (Read Evaluation with `related=true`).
    #[serde(deserialize_with = "nullable")]
    pub related_evals: Vec<Evaluation>,
    /// Raft index of the state the scheduler saw.
    pub snapshot_index: u64,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Creation time, Unix nanoseconds.
    pub create_time: i64,
    /// Last change, Unix nanoseconds.
    pub modify_time: i64,
}

/// A deployment: the rollout of one job version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Deployment {
    /// The deployment's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Namespace.
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// The job deployed.
    #[serde(rename = "JobID", deserialize_with = "nullable")]
    pub job_id: String,
    /// The job version deployed.
    pub job_version: u64,
    /// The job's `JobModifyIndex` it deploys (links a registration to its
    /// deployment).
    pub job_modify_index: u64,
    /// The job's specification index.
    pub job_spec_modify_index: u64,
    /// The job's creation index.
    pub job_create_index: u64,
    /// Progress per group.
    #[serde(deserialize_with = "nullable")]
    pub task_groups: BTreeMap<String, DeploymentState>,
    /// `running`, `paused`, `failed`, `successful`, `cancelled`, ...
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    /// Detail for `status`.
    #[serde(deserialize_with = "nullable")]
    pub status_description: String,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
}

/// A deployment's progress for one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeploymentState {
    /// Revert to the last stable version on failure.
    pub auto_revert: bool,
    /// Promote canaries once healthy.
    pub auto_promote: bool,
    /// Canaries were promoted.
    pub promoted: bool,
    /// The canaries placed.
    #[serde(deserialize_with = "nullable")]
    pub placed_canaries: Vec<String>,
    /// Canaries wanted.
    pub desired_canaries: u64,
    /// Allocations wanted.
    pub desired_total: u64,
    /// Allocations placed.
    pub placed_allocs: u64,
    /// Allocations healthy.
    pub healthy_allocs: u64,
    /// Allocations unhealthy.
    pub unhealthy_allocs: u64,
    /// Deadline for progress (RFC 3339).
    pub require_progress_by: Option<String>,
}

/// One frame of a framed file or log stream (`/v1/client/fs/logs` without
/// `plain=true`, `/v1/client/fs/stream`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct StreamFrame {
    /// The file, relative to the allocation directory.
    #[serde(deserialize_with = "nullable")]
    pub file: String,
    /// Byte offset of `data` in the file.
    pub offset: i64,
    /// The bytes, base64-encoded; empty for event-only frames.
    #[serde(deserialize_with = "nullable")]
    pub data: String,
    /// `file deleted` or `file truncated`, if that happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_event: Option<String>,
}

impl StreamFrame {
    /// The frame's bytes, decoded from base64.
    pub fn decode_data(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.data)
    }
}

/// Splits a framed stream body into its frames. The frames are JSON objects
/// written one after another with no array around them, so they are read
/// with a streaming decoder; a frame cut off at the end is an error.
pub fn parse_stream_frames(body: &[u8]) -> Result<Vec<StreamFrame>, serde_json::Error> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<StreamFrame>()
        .collect()
}

/// A Nomad variable (`/v1/var/:path`): string items under a path, readable
/// by the tasks of the job the path names (`nomad/jobs/<job id>`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Variable {
    /// Namespace (the client's when empty).
    #[serde(
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace: String,
    /// The variable's path.
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    /// The items: secrets, so never logged by this type's `Debug`.
    #[serde(deserialize_with = "nullable")]
    pub items: BTreeMap<String, String>,
    /// Raft index of creation.
    #[serde(skip_serializing_if = "is_zero")]
    pub create_index: u64,
    /// Raft index of the last change: the `cas` value for the next write.
    #[serde(skip_serializing_if = "is_zero")]
    pub modify_index: u64,
    /// Creation time, Unix nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub create_time: i64,
    /// Last change, Unix nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub modify_time: i64,
}

// Written by hand so item values (passwords) never reach a log line.
impl std::fmt::Debug for Variable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variable")
            .field("namespace", &self.namespace)
            .field("path", &self.path)
            .field("items", &self.items.keys().collect::<Vec<_>>())
            .field("create_index", &self.create_index)
            .field("modify_index", &self.modify_index)
            .finish()
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}
