//! Users' admin SQL through Nomad: one dispatch of the database's
//! parameterized admin SQL job per SQL job, at most once.

use std::collections::BTreeMap;
use std::time::Duration;

use dbaas_drivers::{EngineSpec, Result};
use dbaas_nomad::{
    AllocationListStub, JobDispatchRequest, LogStream, NomadError, QueryOptions, TaskState,
};
use tokio::time::Instant;

use crate::render::{err, render_admin_sql_job};
use crate::runtime::NomadRuntime;

/// One admin SQL run: which SQL (already uploaded to the object store),
/// in which database, for which dbaas SQL job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSqlRequest {
    /// dbaas's id of the SQL job: the dispatch's idempotency key.
    pub job_id: String,
    /// The database (within the engine) the SQL runs in.
    pub database: String,
    /// The SQL's object-store key, relative to the configured
    /// `object_store_url`.
    pub sql_object: String,
}

/// How an admin SQL run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSqlOutcome {
    /// The dispatched child job (`<instance>-admin-sql/dispatch-...`).
    pub dispatched_job_id: String,
    /// The allocation that ran it.
    pub allocation_id: String,
    /// The task that ended the run: `sql`, or `fetch` if the SQL object
    /// could not be fetched.
    pub task: String,
    /// The task's exit code (psql: 0 success, 3 an error in the script,
    /// 2 no connection).
    pub exit_code: i64,
    /// The task's standard output (psql's results).
    pub stdout: String,
    /// The task's standard error (psql's errors and notices).
    pub stderr: String,
}

impl AdminSqlOutcome {
    /// Whether the SQL ran to its end without error.
    pub fn succeeded(&self) -> bool {
        self.task == "sql" && self.exit_code == 0
    }
}

/// The idempotency token of a dbaas SQL job's dispatch.
pub fn dispatch_token(job_id: &str) -> String {
    format!("dbaas-sql-{job_id}")
}

fn check_request(req: &AdminSqlRequest) -> Result<()> {
    let id_ok = !req.job_id.is_empty()
        && req.job_id.len() <= 64
        && req
            .job_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(err(format!(
            "SQL job id {:?} cannot key a Nomad dispatch: only letters, digits and '-', at most 64",
            req.job_id
        )));
    }
    // Meta values are interpolated by Nomad into the task's environment and
    // the fetch URL: they must be inert text.
    crate::render::plain("the database", &req.database)?;
    crate::render::plain("the SQL object key", &req.sql_object)?;
    if req.sql_object.starts_with('/') || req.sql_object.split('/').any(|p| p == "..") {
        return Err(err(format!(
            "the SQL object key {:?} must be relative, without '..'",
            req.sql_object
        )));
    }
    Ok(())
}

fn is_finished(a: &AllocationListStub) -> bool {
    matches!(a.client_status.as_str(), "complete" | "failed" | "lost")
}

/// The exit code a task's `Terminated` event reports.
fn exit_code(state: &TaskState) -> Option<i64> {
    state
        .events
        .iter()
        .rev()
        .find(|e| e.r#type == "Terminated")
        .map(|e| e.exit_code)
}

impl NomadRuntime {
    /// Runs a user's admin SQL against `spec`'s engine as one dispatch of
    /// the database's admin SQL job, and returns its output once it ends.
    ///
    /// At most once per `req.job_id`: the parameterized job is registered
    /// only if it changed (check-and-set); an existing child dispatched for
    /// the same SQL job — running or finished, found by its idempotency
    /// token — is waited for instead of dispatching again; and the dispatch
    /// itself carries the token, so a retried request that reached Nomad
    /// returns the child it made. (Nomad forgets finished children at its
    /// job garbage collection, by default after 4 hours: a saga resuming
    /// later must not call this again for a run it started.)
    ///
    /// A run that ended is `Ok` whatever its exit code (see
    /// [`AdminSqlOutcome::succeeded`]); `Err` means the run's end could not
    /// be learnt: Nomad unreachable, the timeout, an allocation lost.
    pub async fn dispatch_admin_sql(
        &self,
        spec: &EngineSpec,
        req: &AdminSqlRequest,
    ) -> Result<AdminSqlOutcome> {
        check_request(req)?;
        let pair = self.placement().pair(spec).await?;
        let parent = render_admin_sql_job(spec, self.config(), &pair)?;
        let parent_id = parent.id.clone().unwrap_or_default();
        // The job's own variable: the engine's password and the object
        // store's header, for its tasks' templates.
        let password = self.ensure_engine_password(&spec.instance).await?;
        let mut items = vec![(crate::secrets::PASSWORD_ITEM, Some(password))];
        if let Some(header) = &self.config().object_store_header {
            items.push((
                crate::secrets::OBJECT_STORE_HEADER_ITEM,
                Some(header.clone()),
            ));
        }
        self.ensure_items(&crate::secrets::variable_path(&parent_id), &items)
            .await?;
        self.register(&parent).await?;

        let token = dispatch_token(&req.job_id);
        let child = self.find_or_dispatch(&parent_id, req, &token).await?;
        self.wait_child(&child).await
    }

    /// The child already dispatched for this SQL job, or a new one. The
    /// dispatch is sent once per attempt, never retried blindly: a lost
    /// answer sends the runtime back to look for the child first, since
    /// Nomad would dispatch again for a token whose child already ended.
    async fn find_or_dispatch(
        &self,
        parent_id: &str,
        req: &AdminSqlRequest,
        token: &str,
    ) -> Result<String> {
        let retry = self.client().config().retry.clone();
        let once = self.client().with_retry(dbaas_nomad::RetryPolicy::none());
        let attempts = retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(child) = self.find_child(parent_id, &req.job_id, token).await? {
                tracing::info!(job = %parent_id, child = %child, sql_job = %req.job_id, "the SQL job was dispatched before; following that run");
                return Ok(child);
            }
            let request = JobDispatchRequest {
                meta: Some(BTreeMap::from([
                    ("database".to_string(), req.database.clone()),
                    ("job_id".to_string(), req.job_id.clone()),
                    ("sql_object".to_string(), req.sql_object.clone()),
                ])),
                id_prefix_template: Some(req.job_id.clone()),
                ..JobDispatchRequest::default()
            };
            match once.dispatch_job(parent_id, &request, Some(token)).await {
                Ok(answer) => {
                    tracing::info!(job = %parent_id, child = %answer.dispatched_job_id, sql_job = %req.job_id, "dispatched the SQL job");
                    return Ok(answer.dispatched_job_id);
                }
                Err(e @ (NomadError::Server { .. } | NomadError::Transport { .. }))
                    if attempt < attempts =>
                {
                    tracing::warn!(job = %parent_id, sql_job = %req.job_id, attempt, error = %e, "the dispatch may or may not have been made; looking for its child before trying again");
                    tokio::time::sleep(retry.backoff(attempt)).await;
                }
                Err(e) => return Err(err(e)),
            }
        }
    }

    /// The child of `parent` dispatched with `token`, if Nomad still has it.
    async fn find_child(&self, parent: &str, job_id: &str, token: &str) -> Result<Option<String>> {
        let prefix = format!("{parent}/dispatch-");
        let children = self
            .client()
            .list_jobs(&prefix, &QueryOptions::now())
            .await
            .map_err(err)?
            .value;
        let ours = format!("{prefix}{job_id}-");
        // Children named after the SQL job first; then children without a
        // name template (a Nomad that ignores IdPrefixTemplate names them
        // `dispatch-<time>-<random>`), which may be ours too.
        let unnamed = |id: &str| {
            id.strip_prefix(&prefix)
                .and_then(|rest| rest.split('-').next())
                .is_some_and(|first| !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()))
        };
        let candidates = children
            .iter()
            .filter(|c| c.id.starts_with(&ours))
            .chain(children.iter().filter(|c| unnamed(&c.id)));
        for stub in candidates {
            match self.client().read_job(&stub.id, &QueryOptions::now()).await {
                Ok(r) if r.value.dispatch_idempotency_token.as_deref() == Some(token) => {
                    return Ok(Some(stub.id.clone()))
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok(None)
    }

    /// Waits until the child's allocation has ended, then reads its logs.
    async fn wait_child(&self, child: &str) -> Result<AdminSqlOutcome> {
        let deadline = Instant::now() + self.config().sql_timeout;
        let mut index = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(err(format!(
                    "the SQL job {child} did not end within {:?}; it may still run: see `nomad job status {child}`",
                    self.config().sql_timeout
                )));
            }
            let wait = self
                .config()
                .poll_wait
                .min(remaining)
                .max(Duration::from_millis(50));
            let allocs = match self
                .client()
                .job_allocations(child, &QueryOptions::blocking(index, wait))
                .await
            {
                Ok(r) => r,
                Err(e) if e.is_not_found() => {
                    return Err(err(format!(
                        "the dispatched SQL job {child} is gone from Nomad (garbage-collected?); its output cannot be read"
                    )))
                }
                Err(e) => return Err(err(e)),
            };
            index = allocs.meta.last_index;
            if let Some(a) = allocs.value.iter().find(|a| is_finished(a)) {
                if a.client_status == "lost" {
                    return Err(err(format!(
                        "the SQL job {child}: allocation {} was lost with its node; whether the SQL ran is unknown",
                        a.id
                    )));
                }
                return self.outcome(child, a).await;
            }
        }
    }

    async fn outcome(&self, child: &str, a: &AllocationListStub) -> Result<AdminSqlOutcome> {
        // The task that decided the run: `sql` if it ran, else the fetch.
        let sql_ran = a
            .task_states
            .get("sql")
            .is_some_and(|s| exit_code(s).is_some());
        let task = if sql_ran { "sql" } else { "fetch" };
        let exit = a
            .task_states
            .get(task)
            .and_then(exit_code)
            .unwrap_or(if a.client_status == "complete" { 0 } else { -1 });
        let stdout = self.logs(&a.id, task, LogStream::Stdout).await?;
        let stderr = self.logs(&a.id, task, LogStream::Stderr).await?;
        Ok(AdminSqlOutcome {
            dispatched_job_id: child.to_string(),
            allocation_id: a.id.clone(),
            task: task.to_string(),
            exit_code: exit,
            stdout,
            stderr,
        })
    }

    async fn logs(&self, alloc: &str, task: &str, stream: LogStream) -> Result<String> {
        match self
            .client()
            .allocation_logs(alloc, task, stream, None)
            .await
        {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            // No log (never started, or logging disabled): nothing to show.
            Err(NomadError::Api { status: 404, .. }) => Ok(String::new()),
            Err(e) => Err(err(e)),
        }
    }
}
