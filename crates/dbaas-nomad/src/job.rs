//! The JSON job form (`POST /v1/jobs`, `GET /v1/job/:id`) and the parts of
//! it dbaas sets or reads.
//!
//! Every field is an `Option` skipped when `None`: Nomad fills absent fields
//! with its own defaults when it canonicalises a job (an absent `Count` is
//! 1, not 0), so "not set" must stay distinguishable from a zero value.
//! Every struct keeps the fields it does not model in `extra` and writes them
//! back, so reading a job, changing one thing and registering it again does
//! not silently drop what a newer Nomad (or an operator) put there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields of a Nomad object this crate does not model, kept verbatim.
pub type Extra = Map<String, Value>;

/// A Nomad job in its JSON form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Job {
    /// Region the job runs in (Nomad defaults it to `global`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Namespace the job lives in (Nomad defaults it to `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The job's unique identifier within its namespace.
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The parent's ID for a dispatched or periodic child job.
    #[serde(rename = "ParentID", skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Display name (Nomad defaults it to the ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Scheduler type: `service`, `batch`, `system` or `sysbatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Scheduling priority, 1–100 (Nomad defaults it to 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Datacenters the job may be placed in (globs allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datacenters: Option<Vec<String>>,
    /// Node pool the job may be placed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_pool: Option<String>,
    /// Placement constraints for every group of the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<Constraint>>,
    /// The task groups: the units Nomad places together on one node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_groups: Option<Vec<TaskGroup>>,
    /// Free-form metadata, visible to tasks as `NOMAD_META_*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
    /// Makes the job a cron-like launcher of child jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub periodic: Option<PeriodicConfig>,
    /// Makes the job a template instantiated by dispatch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameterized_job: Option<ParameterizedJobConfig>,
    /// Whether this job is a dispatched child of a parameterized job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatched: Option<bool>,
    /// The idempotency token a dispatched child was created with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch_idempotency_token: Option<String>,
    /// The job has been stopped (it stays readable until purged or GC'd).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<bool>,
    /// `pending`, `running` or `dead` (set by Nomad).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Human-readable detail for `status` (set by Nomad).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    /// Whether this version was marked stable by a successful deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable: Option<bool>,
    /// The job's version, bumped on every change of its specification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// When this version was submitted, in Unix nanoseconds (beyond 2^53).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submit_time: Option<i64>,
    /// Raft index at which the job was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_index: Option<u64>,
    /// Raft index of the last change of any kind (including status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify_index: Option<u64>,
    /// Raft index of the last change of the specification: the value to
    /// pass for check-and-set registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_modify_index: Option<u64>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A placement constraint (`attribute operator value`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constraint {
    /// Left side, usually an interpolated attribute such as `${attr.kernel.name}`.
    #[serde(rename = "LTarget", skip_serializing_if = "Option::is_none")]
    pub l_target: Option<String>,
    /// Right side, the value compared against.
    #[serde(rename = "RTarget", skip_serializing_if = "Option::is_none")]
    pub r_target: Option<String>,
    /// The comparison (`=`, `!=`, `regexp`, `distinct_hosts`, ...).
    #[serde(rename = "Operand", skip_serializing_if = "Option::is_none")]
    pub operand: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A group of tasks placed together on one node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskGroup {
    /// The group's name, unique within the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many instances to run (Nomad defaults an absent count to 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Placement constraints for this group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<Constraint>>,
    /// The tasks run in each instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<Task>>,
    /// Group networking: mode and the ports to allocate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<NetworkResource>>,
    /// Services registered for the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Service>>,
    /// What the client does when a task exits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// What the scheduler does when an allocation fails for good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reschedule_policy: Option<ReschedulePolicy>,
    /// Volumes requested by the group, by the name tasks mount them with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, VolumeRequest>>,
    /// Behaviour when the node running the group loses contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<DisconnectStrategy>,
    /// Group metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One task: a process run by a driver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Task {
    /// The task's name, unique within the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The task driver (`docker`, `exec`, `raw_exec`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The user the task runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Driver-specific configuration; its shape belongs to the driver, so it
    /// stays an untyped JSON value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Environment variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// CPU, memory and disk the task needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Files rendered from templates before (and while) the task runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates: Option<Vec<Template>>,
    /// Group volumes mounted into the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// Services registered for the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Service>>,
    /// Runs the task as a prestart/poststart/poststop hook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<TaskLifecycle>,
    /// Task metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
    /// Time between the kill signal and a forced kill, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub kill_timeout: Option<i64>,
    /// The signal sent to stop the task (driver default if unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_signal: Option<String>,
    /// When a leader task exits, the group's other tasks are stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<bool>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Resources a task asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// CPU in MHz.
    #[serde(rename = "CPU", skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// Whole cores reserved exclusively (instead of `cpu`).
    #[serde(rename = "Cores", skip_serializing_if = "Option::is_none")]
    pub cores: Option<i64>,
    /// Memory reserved, in MiB.
    #[serde(rename = "MemoryMB", skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<i64>,
    /// Memory the task may burst to, in MiB (oversubscription).
    #[serde(rename = "MemoryMaxMB", skip_serializing_if = "Option::is_none")]
    pub memory_max_mb: Option<i64>,
    /// Disk, in MiB (deprecated at task level, still reported).
    #[serde(rename = "DiskMB", skip_serializing_if = "Option::is_none")]
    pub disk_mb: Option<i64>,
    /// Task-level networks (deprecated; group networks replace them, but
    /// allocations still report the ports assigned here).
    #[serde(rename = "Networks", skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<NetworkResource>>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A network request (in a job) or assignment (in an allocation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkResource {
    /// `host`, `bridge`, `none` or `cni/<name>`.
    #[serde(rename = "Mode", skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Host device the network is on (set by Nomad in allocations).
    #[serde(rename = "Device", skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// CIDR of the network (set by Nomad in allocations).
    #[serde(rename = "CIDR", skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// The address the ports are bound on (set by Nomad in allocations).
    #[serde(rename = "IP", skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Bandwidth in Mbit/s (deprecated).
    #[serde(rename = "MBits", skip_serializing_if = "Option::is_none")]
    pub mbits: Option<i64>,
    /// Ports with a fixed host port.
    #[serde(rename = "ReservedPorts", skip_serializing_if = "Option::is_none")]
    pub reserved_ports: Option<Vec<Port>>,
    /// Ports whose host port Nomad picks.
    #[serde(rename = "DynamicPorts", skip_serializing_if = "Option::is_none")]
    pub dynamic_ports: Option<Vec<Port>>,
    /// Hostname given to the network namespace.
    #[serde(rename = "Hostname", skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A labelled port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Port {
    /// The label tasks and services refer to the port by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The host port (0 in a job for a dynamic port; the assigned port in
    /// an allocation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// The port inside the task's network namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    /// The client host network to bind on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_network: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A service registration (in Nomad's own catalogue or Consul).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Service {
    /// The service name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tags attached to the registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The port label the service advertises.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_label: Option<String>,
    /// `nomad` or `consul`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Health checks of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<ServiceCheck>>,
    /// Service metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A health check of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ServiceCheck {
    /// The check's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `tcp`, `http`, `grpc` or `script`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// HTTP path for `http` checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port label checked, when not the service's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_label: Option<String>,
    /// Time between checks, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub interval: Option<i64>,
    /// Time a check may take, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub timeout: Option<i64>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// How the client restarts a failed task in place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// Restarts allowed within `interval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    /// The window attempts are counted in, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub interval: Option<i64>,
    /// Wait before a restart, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub delay: Option<i64>,
    /// `fail` or `delay` once attempts are exhausted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// How the scheduler replaces a failed allocation elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ReschedulePolicy {
    /// Reschedules allowed within `interval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    /// The window attempts are counted in, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub interval: Option<i64>,
    /// First delay before rescheduling, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub delay: Option<i64>,
    /// `constant`, `exponential` or `fibonacci`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_function: Option<String>,
    /// Upper bound of the delay, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub max_delay: Option<i64>,
    /// Reschedule without limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlimited: Option<bool>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A volume a group requests (host volume or CSI volume).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeRequest {
    /// The request's name (the map key in the job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `host` or `csi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// The host volume's or CSI volume's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Mount read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// CSI access mode (`single-node-writer`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<String>,
    /// CSI attachment mode (`file-system` or `block-device`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_mode: Option<String>,
    /// Append the allocation index to `source` (one volume per instance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_alloc: Option<bool>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where a group volume is mounted in a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeMount {
    /// The group volume's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// The path inside the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Mount read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Bind propagation (`private`, `host-to-task`, `bidirectional`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_mode: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A file rendered by the client from a template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Template {
    /// Template file on the client (instead of `embedded_tmpl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
    /// Where the rendered file goes, relative to the task directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_path: Option<String>,
    /// The template text itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_tmpl: Option<String>,
    /// `noop`, `restart`, `signal` or `script` when the output changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_mode: Option<String>,
    /// The signal sent for `change_mode = signal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_signal: Option<String>,
    /// Random wait before acting on a change, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub splay: Option<i64>,
    /// File mode of the rendered file, as an octal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perms: Option<String>,
    /// Load the rendered file into the task's environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envvars: Option<bool>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Runs a task as a hook around the group's main tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskLifecycle {
    /// `prestart`, `poststart` or `poststop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// Keep running alongside the main tasks instead of completing first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<bool>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What happens to a group when its node stops talking to the servers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DisconnectStrategy {
    /// How long before the allocation is considered lost, in nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub lost_after: Option<i64>,
    /// The client stops the allocation after this long disconnected, in
    /// nanoseconds: what keeps two primaries from running at once.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::serde_util::opt_nanos"
    )]
    pub stop_on_client_after: Option<i64>,
    /// Place a replacement while the node is disconnected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,
    /// Which allocation wins on reconnect (`best_score`, `keep_original`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Cron-like launching of child jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PeriodicConfig {
    /// Launching is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The cron expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// `cron` (the only type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_type: Option<String>,
    /// Skip a launch while the previous child still runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prohibit_overlap: Option<bool>,
    /// Time zone the spec is read in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a dispatch of a parameterized job must or may carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ParameterizedJobConfig {
    /// `optional`, `required` or `forbidden`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Meta keys a dispatch must set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_required: Option<Vec<String>>,
    /// Meta keys a dispatch may set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_optional: Option<Vec<String>>,
    /// Fields not modelled here, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}
