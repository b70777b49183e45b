//! [`NomadRuntime`]: the engine runtime over Nomad's HTTP API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dbaas_drivers::{AdminAccess, DriverError, EngineRuntime, EngineSpec, EngineStatus, Result};
use dbaas_nomad::{
    AllocationListStub, Deployment, Job, JobRegisterRequest, NomadClient, NomadError, QueryOptions,
};
use tokio::time::Instant;

use crate::jobspec::{AdminSqlJobValues, ConfigureJobValues, EngineJobValues, JobTemplate};
use crate::render::{err, job_id, render_engine_job, ENGINE, SPEC_HASH_META};

/// Decides which host pair runs a database: the one holding its volume.
/// Placement is made elsewhere (with Pacemaker); the runtime only asks.
#[async_trait]
pub trait PairPlacement: Send + Sync {
    /// The pair (node meta `dbaas_pair` of its Nomad client) for `spec`.
    async fn pair(&self, spec: &EngineSpec) -> Result<String>;
}

/// Every database on one pair: a single-pair installation, and tests.
#[derive(Debug, Clone)]
pub struct SinglePair(pub String);

#[async_trait]
impl PairPlacement for SinglePair {
    async fn pair(&self, _spec: &EngineSpec) -> Result<String> {
        Ok(self.0.clone())
    }
}

/// Configuration of the Nomad engine runtime.
#[derive(Clone)]
pub struct NomadRuntimeConfig {
    /// Engine version → container image (`"16"` → `"postgres:16"`): the
    /// versions this runtime offers are exactly these.
    pub images: BTreeMap<String, String>,
    /// The engine's superuser, which dbaas administers it as.
    pub superuser: String,
    /// The job template's text; `None` for the built-in
    /// `jobs/engine.nomad.hcl`.
    pub template: Option<String>,
    /// How long a start may take: image pull, first-start initialisation
    /// and the deployment's health checks.
    pub start_timeout: Duration,
    /// How long a stop may take (the task's kill timeout is 60 s).
    pub stop_timeout: Duration,
    /// How long one blocking query may be held by Nomad.
    pub poll_wait: Duration,
    /// Registrations tried when others keep changing the job in between.
    pub cas_attempts: u32,
    /// The admin SQL job template's text; `None` for the built-in
    /// `jobs/admin-sql.nomad.hcl`.
    pub admin_sql_template: Option<String>,
    /// The configuration job template's text; `None` for the built-in
    /// `jobs/configure.nomad.hcl`.
    pub configure_template: Option<String>,
    /// The image providing psql for admin SQL and configuration jobs;
    /// `None` for the engine's own image (same version as the engine).
    pub client_image: Option<String>,
    /// The image providing curl, which fetches a SQL object.
    pub fetch_image: String,
    /// Base URL of the object-store container the SQL objects are in
    /// (`https://swift.example/v1/AUTH_dbaas/dbaas-sql`): a dispatch's
    /// `sql_object` key is appended.
    pub object_store_url: String,
    /// How long an admin SQL job may take from dispatch to its end.
    pub sql_timeout: Duration,
    /// The HTTP header line the fetch task sends to the object store
    /// (`X-Auth-Token: ...`), kept in the admin SQL job's variable; `None`
    /// for a store that needs none.
    pub object_store_header: Option<String>,
}

// Written by hand so the object store's header (a credential) never
// reaches a log line.
impl std::fmt::Debug for NomadRuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NomadRuntimeConfig")
            .field("images", &self.images)
            .field("superuser", &self.superuser)
            .field("template", &self.template.as_ref().map(|_| "(configured)"))
            .field("start_timeout", &self.start_timeout)
            .field("stop_timeout", &self.stop_timeout)
            .field("poll_wait", &self.poll_wait)
            .field("cas_attempts", &self.cas_attempts)
            .field("client_image", &self.client_image)
            .field("fetch_image", &self.fetch_image)
            .field("object_store_url", &self.object_store_url)
            .field("sql_timeout", &self.sql_timeout)
            .field(
                "object_store_header",
                &self.object_store_header.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl Default for NomadRuntimeConfig {
    fn default() -> Self {
        Self {
            images: BTreeMap::from([
                ("15".to_string(), "postgres:15".to_string()),
                ("16".to_string(), "postgres:16".to_string()),
                ("17".to_string(), "postgres:17".to_string()),
            ]),
            superuser: "postgres".into(),
            template: None,
            // healthy_deadline (5 m) of the template plus an image pull.
            start_timeout: Duration::from_secs(600),
            stop_timeout: Duration::from_secs(120),
            poll_wait: Duration::from_secs(30),
            cas_attempts: 5,
            admin_sql_template: None,
            configure_template: None,
            client_image: None,
            fetch_image: "curlimages/curl:8.11.1".into(),
            object_store_url: "http://127.0.0.1:8080/v1/AUTH_dbaas/dbaas-sql".into(),
            sql_timeout: Duration::from_secs(3600),
            object_store_header: None,
        }
    }
}

/// A template to check at start-up: the configured text, what it is, the
/// built-in one, and the variables dbaas sets.
type TemplateCheck<'a> = (
    &'a Option<String>,
    &'static str,
    fn() -> std::result::Result<JobTemplate, crate::TemplateError>,
    Vec<String>,
);

/// Runs each database's engine as a Nomad service job on the host pair
/// holding its volume.
pub struct NomadRuntime {
    client: NomadClient,
    cfg: NomadRuntimeConfig,
    placement: Arc<dyn PairPlacement>,
}

fn is_active(a: &AllocationListStub) -> bool {
    // `unknown` is an allocation on a disconnected node: it may well still
    // be running, so it counts as active until Nomad hears otherwise.
    matches!(a.client_status.as_str(), "pending" | "running" | "unknown")
}

/// Why an allocation's task failed, from its most telling event.
fn task_messages(a: &AllocationListStub) -> Vec<String> {
    let mut out = Vec::new();
    for (task, state) in &a.task_states {
        let event = state
            .events
            .iter()
            .rev()
            .find(|e| e.fails_task || !e.driver_error.is_empty())
            .or_else(|| state.events.last());
        if let Some(e) = event {
            let text = [&e.display_message, &e.driver_error, &e.message, &e.r#type]
                .into_iter()
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_default();
            out.push(format!("task {task}: {text}"));
        }
    }
    out
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl NomadRuntime {
    /// A runtime over `client`. Fails if the template cannot be parsed or
    /// lacks a variable dbaas sets.
    pub fn new(
        client: NomadClient,
        cfg: NomadRuntimeConfig,
        placement: Arc<dyn PairPlacement>,
    ) -> std::result::Result<Self, String> {
        let checks: [TemplateCheck; 3] = [
            (
                &cfg.template,
                "engine",
                JobTemplate::engine,
                EngineJobValues::default_names().map(String::from).to_vec(),
            ),
            (
                &cfg.admin_sql_template,
                "admin SQL",
                JobTemplate::admin_sql,
                AdminSqlJobValues::names(),
            ),
            (
                &cfg.configure_template,
                "configure",
                JobTemplate::configure,
                ConfigureJobValues::names(),
            ),
        ];
        for (configured, what, builtin, names) in checks {
            let template = match configured {
                Some(text) => JobTemplate::parse(&format!("(configured {what} template)"), text),
                None => builtin(),
            }
            .map_err(|e| e.to_string())?;
            let declared: Vec<&str> = template.variables().collect();
            for name in &names {
                if !declared.contains(&name.as_str()) {
                    return Err(format!(
                        "the {what} job template does not declare variable {name:?}, which dbaas sets; add `variable {name:?} {{}}`"
                    ));
                }
            }
        }
        Ok(Self {
            client,
            cfg,
            placement,
        })
    }

    /// The JSON job dbaas registers for `spec`, with its hash in the meta
    /// ([`render_engine_job`] with this runtime's configuration and pair).
    pub async fn render(&self, spec: &EngineSpec) -> Result<Job> {
        let pair = self.placement.pair(spec).await?;
        render_engine_job(spec, &self.cfg, &pair)
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &NomadRuntimeConfig {
        &self.cfg
    }

    pub(crate) fn client(&self) -> &NomadClient {
        &self.client
    }

    pub(crate) fn placement(&self) -> &dyn PairPlacement {
        self.placement.as_ref()
    }

    async fn read_job(&self, id: &str) -> Result<Option<Job>> {
        match self.client.read_job(id, &QueryOptions::now()).await {
            Ok(r) => Ok(Some(r.value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    /// Registers `job` unless Nomad already runs this very job; returns the
    /// job version to wait for. Check-and-set: each attempt registers
    /// against the index it read, and a conflict (someone registered in
    /// between) sends it back to read and decide again.
    pub(crate) async fn register(&self, job: &Job) -> Result<u64> {
        let id = job.id.clone().unwrap_or_default();
        let ours = job.meta.as_ref().and_then(|m| m.get(SPEC_HASH_META));
        for attempt in 1..=self.cfg.cas_attempts.max(1) {
            let current = self.read_job(&id).await?;
            if let Some(cur) = &current {
                let theirs = cur.meta.as_ref().and_then(|m| m.get(SPEC_HASH_META));
                if theirs == ours && cur.stop != Some(true) {
                    tracing::debug!(job = %id, "the job is registered as is; not submitting it again");
                    return Ok(cur.version.unwrap_or(0));
                }
            }
            let index = current
                .as_ref()
                .and_then(|j| j.job_modify_index)
                .unwrap_or(0);
            let request = JobRegisterRequest::new(job.clone()).check_and_set(index);
            match self.client.register_job(&request).await {
                Ok(answer) => {
                    tracing::info!(job = %id, job_modify_index = answer.job_modify_index, eval = %answer.eval_id, "registered the job");
                    let registered = self.read_job(&id).await?.ok_or_else(|| {
                        err(format!(
                            "the Nomad job {id} vanished right after it was registered"
                        ))
                    })?;
                    return Ok(registered.version.unwrap_or(0));
                }
                Err(NomadError::CheckAndSetConflict { .. }) => {
                    tracing::warn!(job = %id, attempt, index, "the job changed since it was read; reading it again");
                }
                Err(e) => return Err(err(e)),
            }
        }
        Err(err(format!(
            "the Nomad job {id} kept being changed by someone else ({} attempts); find who else registers it",
            self.cfg.cas_attempts
        )))
    }

    /// Waits until `version` of the job is deployed healthy: its deployment
    /// successful or, for a job without one, its allocation running.
    async fn wait_healthy(&self, id: &str, version: u64) -> Result<()> {
        let deadline = Instant::now() + self.cfg.start_timeout;
        let mut alloc_index = 0;
        let mut seen = String::from("nothing placed yet");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(err(format!(
                    "the engine job {id} version {version} was not healthy within {:?} ({seen}); see `nomad job status {id}`",
                    self.cfg.start_timeout
                )));
            }
            let wait = self
                .cfg
                .poll_wait
                .min(remaining)
                .max(Duration::from_millis(50));
            match self.latest_deployment(id, version).await? {
                Some(d) if d.status == "successful" => return Ok(()),
                Some(d) if matches!(d.status.as_str(), "failed" | "cancelled") => {
                    // A deployment stays failed after its cause is fixed
                    // (the task keeps restarting in place, mode "delay"):
                    // an engine of this version running now is what counts,
                    // or the supervisor could never get past it.
                    if self.runs_now(id, version).await? {
                        tracing::warn!(job = %id, deployment = %d.id, "the deployment failed earlier, but the engine runs now");
                        return Ok(());
                    }
                    return Err(self.failure(id, version, &d).await);
                }
                Some(d) => {
                    seen = format!("deployment {} {}", short(&d.id), d.status);
                    self.client
                        .read_deployment(&d.id, &QueryOptions::blocking(d.modify_index, wait))
                        .await
                        .map_err(err)?;
                }
                None => {
                    let allocs = self
                        .client
                        .job_allocations(id, &QueryOptions::blocking(alloc_index, wait))
                        .await
                        .map_err(err)?;
                    alloc_index = allocs.meta.last_index;
                    let current: Vec<_> = allocs
                        .value
                        .iter()
                        .filter(|a| a.job_version >= version && a.desired_status == "run")
                        .collect();
                    if let Some(a) = current.iter().find(|a| a.client_status == "failed") {
                        return Err(err(format!(
                            "the engine job {id}: allocation {} failed: {}",
                            short(&a.id),
                            task_messages(a).join("; ")
                        )));
                    }
                    if let Some(a) = current.iter().find(|a| a.client_status == "running") {
                        // Nomad creates a deployment in the same plan as the
                        // allocations; if there is still none for this
                        // version, the job has no update block and a running
                        // allocation is all there is to wait for.
                        if self.latest_deployment(id, version).await?.is_none() {
                            return Ok(());
                        }
                        seen = format!("allocation {} running", short(&a.id));
                    } else if let Some(a) = current.first() {
                        seen = format!("allocation {} {}", short(&a.id), a.client_status);
                    }
                }
            }
        }
    }

    async fn latest_deployment(&self, id: &str, version: u64) -> Result<Option<Deployment>> {
        match self
            .client
            .latest_deployment(id, &QueryOptions::now())
            .await
        {
            Ok(r) => Ok(r.value.filter(|d| d.job_version >= version)),
            Err(e) if e.is_not_found() => Err(err(format!(
                "the Nomad job {id} disappeared while dbaas waited for it to start"
            ))),
            Err(e) => Err(err(e)),
        }
    }

    /// Whether an allocation of `version` (or later) runs with every task
    /// running.
    async fn runs_now(&self, id: &str, version: u64) -> Result<bool> {
        let allocs = self
            .client
            .job_allocations(id, &QueryOptions::now())
            .await
            .map_err(err)?;
        Ok(allocs.value.iter().any(|a| {
            a.job_version >= version
                && a.desired_status == "run"
                && a.client_status == "running"
                && !a.task_states.is_empty()
                && a.task_states.values().all(|t| t.state == "running")
        }))
    }

    /// The error for a failed deployment, naming what its allocations' tasks
    /// said (the pull error, the engine's exit, ...).
    async fn failure(&self, id: &str, version: u64, d: &Deployment) -> DriverError {
        let mut detail = Vec::new();
        if let Ok(allocs) = self.client.job_allocations(id, &QueryOptions::now()).await {
            for a in allocs.value.iter().filter(|a| a.job_version >= version) {
                let messages = task_messages(a);
                if !messages.is_empty() {
                    detail.push(format!(
                        "allocation {} ({}): {}",
                        short(&a.id),
                        a.client_status,
                        messages.join("; ")
                    ));
                }
            }
        }
        let detail = if detail.is_empty() {
            "no task reported why".to_string()
        } else {
            detail.join("; ")
        };
        err(format!(
            "the engine job {id} version {version} did not deploy: deployment {} {} ({}); {detail}",
            short(&d.id),
            d.status,
            d.status_description
        ))
    }

    /// Waits until no allocation of the job may still be running.
    async fn wait_stopped(&self, id: &str) -> Result<()> {
        let deadline = Instant::now() + self.cfg.stop_timeout;
        let mut index = 0;
        loop {
            // Never a zero wait: Nomad reads that as its 5-minute default.
            let wait = self
                .cfg
                .poll_wait
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(50));
            let allocs = match self
                .client
                .job_allocations(id, &QueryOptions::blocking(index, wait))
                .await
            {
                Ok(r) => r,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(err(e)),
            };
            index = allocs.meta.last_index;
            let active: Vec<_> = allocs.value.iter().filter(|a| is_active(a)).collect();
            if active.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let list: Vec<String> = active
                    .iter()
                    .map(|a| format!("{} {} on {}", short(&a.id), a.client_status, a.node_name))
                    .collect();
                return Err(err(format!(
                    "the engine job {id} was stopped but its allocations did not stop within {:?}: {}",
                    self.cfg.stop_timeout,
                    list.join(", ")
                )));
            }
        }
    }

    /// Stops the job (404: nothing to stop) and waits for its allocations.
    async fn stop_and_wait(&self, id: &str) -> Result<bool> {
        match self.client.stop_job(id, false).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(err(e)),
        }
        self.wait_stopped(id).await?;
        Ok(true)
    }
}

impl EngineJobValues {
    /// The variables dbaas sets, which a template must declare.
    fn default_names() -> [&'static str; 9] {
        [
            "job_id",
            "image",
            "pair",
            "volume_path",
            "port",
            "service_name",
            "cpu",
            "memory",
            "superuser",
        ]
    }
}

#[async_trait]
impl EngineRuntime for NomadRuntime {
    fn versions(&self, engine: &str) -> Vec<String> {
        if engine == ENGINE {
            self.cfg.images.keys().cloned().collect()
        } else {
            Vec::new()
        }
    }

    /// Nothing to do: the engine's image initialises an empty data
    /// directory on its first start (initdb with the superuser and the
    /// password file the job gives it), on the host holding the volume —
    /// which this agent cannot reach.
    async fn ensure_initialized(&self, spec: &EngineSpec) -> Result<()> {
        // Still validate, so that a database the runtime cannot run fails
        // at its first step rather than at its start.
        self.render(spec).await.map(|_| ())
    }

    async fn ensure_running(&self, spec: &EngineSpec) -> Result<()> {
        let job = self.render(spec).await?;
        let id = job.id.clone().unwrap_or_default();
        // The password the engine initialises with, before its first start;
        // the job only names the variable.
        self.ensure_engine_password(&id).await?;
        let version = self.register(&job).await?;
        self.wait_healthy(&id, version).await
    }

    async fn stop(&self, spec: &EngineSpec) -> Result<()> {
        let id = job_id(&spec.instance)?;
        self.stop_and_wait(&id).await.map(|_| ())
    }

    async fn destroy(&self, spec: &EngineSpec) -> Result<()> {
        let id = job_id(&spec.instance)?;
        // Stopped first and waited for, so that no engine still writes to
        // the volume once its job is gone from view.
        if !self.stop_and_wait(&id).await? {
            return Ok(());
        }
        match self.client.stop_job(&id, true).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn status(&self, spec: &EngineSpec) -> Result<EngineStatus> {
        let id = job_id(&spec.instance)?;
        if self.read_job(&id).await?.is_none() {
            return Ok(EngineStatus::Absent);
        }
        let allocs = match self.client.job_allocations(&id, &QueryOptions::now()).await {
            Ok(r) => r.value,
            Err(e) if e.is_not_found() => return Ok(EngineStatus::Absent),
            Err(e) => return Err(err(e)),
        };
        let running = allocs
            .iter()
            .any(|a| a.desired_status == "run" && a.client_status == "running");
        Ok(if running {
            EngineStatus::Running
        } else {
            EngineStatus::Stopped
        })
    }

    /// The endpoint and the superuser: production administration goes over
    /// TCP to the engine's endpoint with the superuser's password, which
    /// dbaas holds (the engine has no unix socket this agent can reach).
    async fn admin_access(&self, spec: &EngineSpec) -> Result<AdminAccess> {
        // The password the engine's task was given from the job's
        // variable (made there, never in the job, if the engine is new).
        let password = self
            .ensure_engine_password(&crate::render::job_id(&spec.instance)?)
            .await?;
        Ok(AdminAccess {
            host: spec.endpoint.host.clone(),
            port: spec.endpoint.port,
            superuser: self.cfg.superuser.clone(),
            password: Some(password),
        })
    }
}
