//! The engine runtime over Nomad: each database's engine runs as a Nomad
//! service job (docker driver) on the host pair holding its volume.
//!
//! # The job specification
//!
//! The job is written for people: `jobs/engine.nomad.hcl`, an HCL2 job with
//! `variable` blocks, which an operator can read, edit and even try by hand
//! with `nomad job plan -var ...`. dbaas fills it without ever building
//! HCL text: [`JobTemplate`] parses it with hcl-rs, evaluates the `job`
//! block with `var` bound to typed [`hcl::Value`]s ([`EngineJobValues`]),
//! and maps the evaluated blocks to Nomad's JSON job form
//! ([`dbaas_nomad::Job`]) itself.
//!
//! Why render the JSON here rather than post the HCL to `/v1/jobs/parse`
//! (as the `nomad` CLI does):
//! - the job dbaas registers is then a pure function of typed values,
//!   checked by golden files in this crate's tests with no Nomad at hand
//!   (Nomad cannot run where dbaas is developed and tested);
//! - one round trip fewer on every start, and no dependence on the servers'
//!   HCL parser version for what a database runs;
//! - the same hash of the rendered job ([`SPEC_HASH_META`]) tells a
//!   re-submission of the same job from a change, which comparing with
//!   Nomad's canonicalised copy could not.
//!
//! The price: the converter knows the jobspec blocks the template uses
//! (constraint, group, network/port, service/check, update, restart,
//! reschedule, disconnect, volume, task, config, env, meta, template,
//! resources, ...) and refuses any other by name, so an operator's edit
//! fails loudly at start-up rather than being dropped. Nomad's HCL
//! functions are not available in the template; run-time interpolations
//! (`${meta.dbaas_pair}`) are written escaped, `$${...}`.
//!
//! Values cannot change the job's structure: evaluation is one pass and a
//! value is a string or number leaf. Nomad still interpolates `${...}` in
//! strings when it runs a task, so the runtime also refuses values with
//! `$`, braces, quotes, backslashes or control characters, and job IDs are
//! the instance names (`[a-z0-9-]`).
//!
//! # The runtime
//!
//! [`NomadRuntime`] implements [`dbaas_drivers::EngineRuntime`] over
//! [`dbaas_nomad::NomadClient`]:
//! - `ensure_running` reads the job; the same job (same hash, not stopped)
//!   is not submitted again; otherwise it registers with check-and-set
//!   against the `JobModifyIndex` it read, and on a conflict reads again and
//!   decides again (never overwriting a change it has not seen). It then
//!   waits, with blocking queries and a bound, for the version's deployment
//!   to succeed (or, for a job without an update block, its allocation to
//!   run); a failed deployment is an error naming the tasks' own messages,
//!   unless an allocation of that version runs now (a deployment stays
//!   failed after its cause is fixed; the supervisor must get past it).
//! - `stop` stops the job without purging it and waits until no allocation
//!   may still run (an allocation on a disconnected node counts as
//!   running); `destroy` stops, waits, then purges. Absent is success.
//! - `status`: no job → `Absent`; an allocation running → `Running`;
//!   otherwise `Stopped`. `Absent` says nothing about the volume's data.
//! - `ensure_initialized` only validates: the official image initialises an
//!   empty data directory on first start, on the host holding the volume.
//! - `versions` are the configured images' versions; the job ID is the
//!   instance name; resources follow the database's size
//!   ([`resources_for`]); the pair comes from a [`PairPlacement`].
//! - `admin_access` is the endpoint's host and port, the superuser and
//!   its password: administration goes over TCP, as no unix socket of the
//!   engine is reachable from the agent. The password is made once
//!   (random, check-and-set) in the Nomad variable `nomad/jobs/<job id>`
//!   (key `superuser_password`) that the engine's template reads; the
//!   admin SQL and configure jobs get a copy in their own variables.
//!
//! # Not done in this crate
//!
//! - `tools` and `wal_spool` are `None`: backups and WAL archiving from a
//!   Nomad-run engine need their own jobs.
//!
//! The agent selects this runtime with `drivers { runtime = "nomad" }`
//! (dbaas-control's `services.rs`), its [`PairPlacement`] being the pair
//! recorded on the database's record by placement.

mod admin_sql;
mod jobspec;
mod render;
mod runtime;
mod secrets;

pub use admin_sql::{dispatch_token, AdminSqlOutcome, AdminSqlRequest};
pub use jobspec::{
    AdminSqlJobValues, ConfigureJobValues, EngineJobValues, GrantSpec, JobTemplate, RoleSpec,
    SchemaPrivilege, SchemaSpec, TemplateError, ADMIN_SQL_TEMPLATE, CONFIGURE_TEMPLATE,
    ENGINE_TEMPLATE,
};
pub use render::{
    admin_sql_job_values, configure_job_values, engine_job_values, job_id, render_admin_sql_job,
    render_admin_sql_job_hcl, render_configure_job, render_configure_job_hcl, render_engine_job,
    render_engine_job_hcl, resources_for, DatabaseConfiguration, ADMIN_SQL_SUFFIX,
    CONFIGURE_SUFFIX, SPEC_HASH_META,
};
pub use runtime::{NomadRuntime, NomadRuntimeConfig, PairPlacement, SinglePair};
pub use secrets::{variable_path, OBJECT_STORE_HEADER_ITEM, PASSWORD_ITEM};
