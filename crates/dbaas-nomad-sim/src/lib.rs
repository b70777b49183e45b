//! A Nomad simulator for tests: an axum server on 127.0.0.1:0 following
//! the documented semantics of the endpoints the runtime uses.
//!
//! - Jobs carry `Version`, `JobModifyIndex`, `ModifyIndex` from one Raft-like
//!   index; `POST /v1/jobs` with `EnforceIndex` fails unless the index
//!   matches (with Nomad's own message, as a 500 like Nomad's RPC errors).
//! - Each registration creates an evaluation; one that changes the spec (or
//!   restarts a stopped job, or finds nothing running) also creates an
//!   allocation (pending → running) and a deployment (running →
//!   successful), each step a short simulated delay later.
//! - `GET /v1/job/:id/allocations` and `GET /v1/deployment/:id` are blocking
//!   queries: with `index`, they answer when the resource's index passes
//!   it, or after `wait`.
//! - `DELETE /v1/job/:id` stops (allocations → complete); with `purge=true`
//!   the job is gone (404) afterwards.
//! - A parameterized job is only stored; `POST /v1/job/:id/dispatch`
//!   creates a child (`<parent>/dispatch-<IdPrefixTemplate>-<time>-<rand>`)
//!   whose allocation runs the tasks `fetch` then `sql` and ends complete
//!   or failed with the exit code and logs set for its `sql_object`
//!   ([`Sim::set_sql_result`]). With an idempotency token, a dispatch finds
//!   a child with the same token that is not dead and returns it instead,
//!   as Nomad does (a dead one does not count: Nomad dispatches again).
//! - `GET /v1/jobs?prefix=` lists jobs; `GET /v1/client/fs/logs/:alloc`
//!   (`plain=true`) returns a task's log.
//! - Faults: 500 on the next N calls, a delay on every call, a failing next
//!   deployment, and another writer registering just before the next
//!   registration is applied.
//!
//! Started with [`SimOptions`], the simulated cluster has client nodes
//! with their meta, and the scheduler places a service job's allocation on
//! the first node satisfying the job's and its groups' constraints on
//! `${meta.KEY}` and `${node.unique.name}` (`=`, `==`, `!=`); when none
//! does, the evaluation is `blocked` and nothing runs, as in Nomad. A
//! [`TaskDriver`] then runs the allocation's tasks for real (the
//! end-to-end tests run the engine task as a local PostgreSQL): the
//! allocation is `running` once the driver started them, and a stop (or a
//! stop-first replacement) waits for the driver to stop them before the
//! allocation is `complete`.
//!
//! Test code only: no production crate depends on this one.

pub use async_trait::async_trait;
pub use dbaas_nomad;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dbaas_nomad::{
    AllocDeploymentStatus, AllocationListStub, Deployment, Evaluation, Job, JobRegisterRequest,
    JobRegisterResponse, JobStopResponse, TaskEvent, TaskState,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

/// Time between simulated state changes.
pub const STEP: Duration = Duration::from_millis(30);

/// A Nomad client node of the simulated cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimNode {
    pub id: String,
    pub name: String,
    /// The client's `meta { ... }` (the host pairs' carry `dbaas_pair`).
    pub meta: BTreeMap<String, String>,
}

impl SimNode {
    /// A node named `name` with `meta`; its id derives from the name.
    pub fn new(name: &str, meta: &[(&str, &str)]) -> SimNode {
        SimNode {
            id: format!("node-{name}"),
            name: name.into(),
            meta: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Whether `c` holds on this node; `None` for a constraint the
    /// simulator does not evaluate.
    fn satisfies(&self, c: &dbaas_nomad::Constraint) -> Option<bool> {
        let l = c.l_target.as_deref().unwrap_or("");
        let value = if l == "${node.unique.name}" {
            Some(self.name.as_str())
        } else {
            let key = l.strip_prefix("${meta.")?.strip_suffix('}')?;
            self.meta.get(key).map(String::as_str)
        };
        let r = c.r_target.as_deref().unwrap_or("");
        match c.operand.as_deref().unwrap_or("=") {
            "=" | "==" | "is" => Some(value == Some(r)),
            "!=" | "not" => Some(value != Some(r)),
            _ => None,
        }
    }
}

/// What runs a service job's tasks on a simulated client (Nomad's task
/// drivers: docker, exec, ...).
#[async_trait]
pub trait TaskDriver: Send + Sync {
    /// Starts the tasks of allocation `alloc_id` of `job`, placed on
    /// `node`; returns once they run, or the driver's error (the task then
    /// fails with it).
    async fn start(&self, alloc_id: &str, node: &SimNode, job: &Job) -> Result<(), String>;
    /// Stops the allocation's tasks (their `kill_signal`, then a kill after
    /// `kill_timeout`) and returns once they exited. Unknown: nothing.
    async fn stop(&self, alloc_id: &str);
}

/// How a simulator is started.
#[derive(Default, Clone)]
pub struct SimOptions {
    /// The client nodes; none: every allocation goes to one anonymous
    /// node and constraints are not evaluated.
    pub nodes: Vec<SimNode>,
    /// What runs the tasks of service jobs; none: they start at once and
    /// nothing runs.
    pub driver: Option<Arc<dyn TaskDriver>>,
}

/// One registration as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRecord {
    pub enforce_index: bool,
    pub job_modify_index: Option<u64>,
    /// `None` when refused by check-and-set.
    pub accepted_at: Option<u64>,
}

#[derive(Default)]
struct JobEntry {
    job: Job,
    /// The job as submitted, to tell a spec change.
    spec: Value,
}

#[derive(Default)]
struct State0 {
    index: u64,
    ids: u64,
    jobs: BTreeMap<String, JobEntry>,
    allocs: Vec<AllocationListStub>,
    deployments: Vec<Deployment>,
    evals: Vec<Evaluation>,
    registers: Vec<RegisterRecord>,
    fail_next_deployment: Option<String>,
    interloper: Option<Job>,
    delay: Duration,
    sql_results: BTreeMap<String, SqlResult>,
    logs: BTreeMap<(String, String, String), Vec<u8>>,
    dispatches: Vec<DispatchRecord>,
    lose_dispatch_answers: u32,
    vars: BTreeMap<String, dbaas_nomad::Variable>,
    nodes: Vec<SimNode>,
}

/// What a simulated SQL run ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlResult {
    /// The fetch task's exit code (non-zero: the object could not be read).
    pub fetch_exit: i64,
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// One dispatch request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRecord {
    pub token: Option<String>,
    /// The child answered.
    pub child: String,
    /// Whether a new child was made (false: an existing one returned).
    pub created: bool,
}

impl State0 {
    fn bump(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    fn new_id(&mut self) -> String {
        self.ids += 1;
        format!("{:08x}-5eed-4000-8000-{:012x}", self.ids, self.ids)
    }
}

/// A running simulator.
#[derive(Clone)]
pub struct Sim {
    state: Arc<Mutex<State0>>,
    changed: Arc<watch::Sender<u64>>,
    fail_next: Arc<AtomicU32>,
    driver: Option<Arc<dyn TaskDriver>>,
    pub address: String,
}

impl Sim {
    /// A simulator with one anonymous node and no task driver.
    pub async fn start() -> Sim {
        Self::start_with(SimOptions::default()).await
    }

    /// A simulator with `options`' nodes and task driver.
    pub async fn start_with(options: SimOptions) -> Sim {
        let (tx, _rx) = watch::channel(0);
        let state = State0 {
            nodes: options.nodes,
            ..Default::default()
        };
        let mut sim = Sim {
            state: Arc::new(Mutex::new(state)),
            changed: Arc::new(tx),
            fail_next: Default::default(),
            driver: options.driver,
            address: String::new(),
        };
        let app = Router::new()
            .route("/v1/jobs", get(list_jobs).post(register))
            .route("/v1/job/{id}/dispatch", post(dispatch))
            .route("/v1/client/fs/logs/{alloc}", get(read_logs))
            .route(
                "/v1/var/{*path}",
                get(read_var).put(put_var).delete(delete_var),
            )
            .route("/v1/job/{id}", get(read_job).delete(stop_job))
            .route("/v1/job/{id}/allocations", get(job_allocations))
            .route("/v1/job/{id}/deployment", get(latest_deployment))
            .route("/v1/deployment/{id}", get(read_deployment))
            .layer(axum::middleware::from_fn_with_state(sim.clone(), faults))
            .with_state(sim.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        sim.address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        sim
    }

    fn notify(&self, st: &State0) {
        self.changed.send_replace(st.index);
    }

    /// The next `n` calls answer 500.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every call waits `d` before being answered.
    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// The next deployment fails, its task dying with `message`.
    pub fn fail_next_deployment(&self, message: &str) {
        self.state.lock().unwrap().fail_next_deployment = Some(message.into());
    }

    /// Another writer registers `job` just before the next registration is
    /// applied: between the runtime's read and its register.
    pub fn change_before_next_register(&self, job: Job) {
        self.state.lock().unwrap().interloper = Some(job);
    }

    /// The job's failed allocations recover (the cause was fixed and the
    /// client restarted the task); their deployment stays failed.
    pub fn recover_allocations(&self, id: &str) {
        let mut st = self.state.lock().unwrap();
        let index = st.bump();
        for a in st.allocs.iter_mut().filter(|a| a.job_id == id) {
            if a.client_status == "failed" {
                a.client_status = "running".into();
                for t in a.task_states.values_mut() {
                    t.state = "running".into();
                    t.failed = false;
                    t.events.push(event("Started", ""));
                }
                a.modify_index = index;
            }
        }
        self.notify(&st);
    }

    /// The SQL object `key` runs with this result (default: success,
    /// stdout `"ok\n"`).
    pub fn set_sql_result(&self, key: &str, result: SqlResult) {
        self.state
            .lock()
            .unwrap()
            .sql_results
            .insert(key.into(), result);
    }

    /// The next `n` dispatches are applied, but answered 500 (the answer
    /// lost): the caller cannot know the child was made.
    pub fn lose_dispatch_answers(&self, n: u32) {
        self.state.lock().unwrap().lose_dispatch_answers = n;
    }

    /// The variable at `path`, as stored.
    pub fn variable(&self, path: &str) -> Option<dbaas_nomad::Variable> {
        self.state.lock().unwrap().vars.get(path).cloned()
    }

    pub fn dispatches(&self) -> Vec<DispatchRecord> {
        self.state.lock().unwrap().dispatches.clone()
    }

    /// The children dispatched from `parent`.
    pub fn children(&self, parent: &str) -> Vec<Job> {
        let st = self.state.lock().unwrap();
        st.jobs
            .values()
            .filter(|e| e.job.parent_id.as_deref() == Some(parent))
            .map(|e| e.job.clone())
            .collect()
    }

    /// The IDs of every job the simulator holds (purged ones are gone).
    pub fn job_ids(&self) -> Vec<String> {
        self.state.lock().unwrap().jobs.keys().cloned().collect()
    }

    /// Every allocation of every job, terminal ones included.
    pub fn all_allocations(&self) -> Vec<AllocationListStub> {
        self.state.lock().unwrap().allocs.clone()
    }

    /// Every evaluation, in order.
    pub fn evaluations(&self) -> Vec<Evaluation> {
        self.state.lock().unwrap().evals.clone()
    }

    pub fn registers(&self) -> Vec<RegisterRecord> {
        self.state.lock().unwrap().registers.clone()
    }

    pub fn job(&self, id: &str) -> Option<Job> {
        self.state
            .lock()
            .unwrap()
            .jobs
            .get(id)
            .map(|e| e.job.clone())
    }

    pub fn allocations(&self, id: &str) -> Vec<AllocationListStub> {
        let st = self.state.lock().unwrap();
        st.allocs
            .iter()
            .filter(|a| a.job_id == id)
            .cloned()
            .collect()
    }

    /// Registers as a writer would, CAS aside; returns the new index.
    fn apply_register(&self, st: &mut State0, job: Job) -> (u64, String) {
        let id = job.id.clone().unwrap_or_default();
        let spec = serde_json::to_value(&job).unwrap();
        let index = st.bump();
        let (version, create_index, changed, was_stopped) = match st.jobs.get(&id) {
            Some(e) => {
                let stopped = e.job.stop == Some(true);
                let changed = e.spec != spec;
                let v = e.job.version.unwrap_or(0);
                (
                    if changed || stopped { v + 1 } else { v },
                    e.job.create_index.unwrap_or(index),
                    changed,
                    stopped,
                )
            }
            None => (0, index, true, false),
        };
        let mut stored = job;
        stored.version = Some(version);
        stored.create_index = Some(create_index);
        stored.modify_index = Some(index);
        stored.job_modify_index = Some(index);
        stored.stop = Some(false);
        stored.status = Some("pending".into());
        st.jobs.insert(id.clone(), JobEntry { job: stored, spec });

        if st.jobs[&id].job.parameterized_job.is_some() {
            // A parameterized job is not scheduled itself.
            return (index, String::new());
        }
        let eval_id = st.new_id();
        st.evals.push(Evaluation {
            id: eval_id.clone(),
            job_id: id.clone(),
            triggered_by: "job-register".into(),
            job_modify_index: index,
            status: "complete".into(),
            create_index: index,
            modify_index: index,
            ..Default::default()
        });
        // The scheduler: the first node meeting every constraint.
        let node = if st.nodes.is_empty() {
            Some(SimNode {
                id: "node-1".into(),
                name: "pair-1-a".into(),
                meta: BTreeMap::new(),
            })
        } else {
            let job = &st.jobs[&id].job;
            let constraints: Vec<dbaas_nomad::Constraint> = job
                .constraints
                .iter()
                .flatten()
                .chain(
                    job.task_groups
                        .iter()
                        .flatten()
                        .flat_map(|g| g.constraints.iter().flatten()),
                )
                .cloned()
                .collect();
            st.nodes
                .iter()
                .find(|n| constraints.iter().all(|c| n.satisfies(c).unwrap_or(true)))
                .cloned()
        };
        let Some(node) = node else {
            // Nomad keeps a blocked evaluation until a node fits.
            let blocked = st.new_id();
            st.evals.push(Evaluation {
                id: blocked,
                job_id: id.clone(),
                triggered_by: "queued-allocs".into(),
                job_modify_index: index,
                status: "blocked".into(),
                previous_eval: eval_id.clone(),
                create_index: index,
                modify_index: index,
                ..Default::default()
            });
            return (index, eval_id);
        };

        let running = st
            .allocs
            .iter()
            .any(|a| a.job_id == id && a.desired_status == "run" && a.client_status == "running");
        if changed || was_stopped || !running {
            // Stop-first replacement of the previous allocations.
            let mut replaced = Vec::new();
            for a in st.allocs.iter_mut().filter(|a| a.job_id == id) {
                if a.desired_status == "run" {
                    a.desired_status = "stop".into();
                    a.client_status = "complete".into();
                    a.modify_index = index;
                    replaced.push(a.id.clone());
                }
            }
            let alloc_id = st.new_id();
            let deployment_id = st.new_id();
            st.allocs.push(AllocationListStub {
                id: alloc_id.clone(),
                eval_id: eval_id.clone(),
                name: format!("{id}.engine[0]"),
                node_id: node.id.clone(),
                node_name: node.name.clone(),
                job_id: id.clone(),
                job_version: version,
                task_group: "engine".into(),
                desired_status: "run".into(),
                client_status: "pending".into(),
                create_index: index,
                modify_index: index,
                ..Default::default()
            });
            st.deployments.push(Deployment {
                id: deployment_id.clone(),
                job_id: id.clone(),
                job_version: version,
                job_modify_index: index,
                status: "running".into(),
                status_description: "Deployment is running".into(),
                create_index: index,
                modify_index: index,
                ..Default::default()
            });
            let fail = st.fail_next_deployment.take();
            let sim = self.clone();
            let job = st.jobs[&id].job.clone();
            tokio::spawn(async move {
                sim.progress(alloc_id, deployment_id, fail, replaced, node, job)
                    .await
            });
        }
        (index, eval_id)
    }

    /// The client starts the task, then the deployment decides.
    async fn progress(
        &self,
        alloc_id: String,
        deployment_id: String,
        mut fail: Option<String>,
        replaced: Vec<String>,
        node: SimNode,
        job: Job,
    ) {
        tokio::time::sleep(STEP).await;
        if let Some(driver) = &self.driver {
            for old in &replaced {
                driver.stop(old).await;
            }
            let wanted = {
                let st = self.state.lock().unwrap();
                st.allocs
                    .iter()
                    .any(|a| a.id == alloc_id && a.desired_status == "run")
            };
            if !wanted {
                return;
            }
            if fail.is_none() {
                if let Err(e) = driver.start(&alloc_id, &node, &job).await {
                    fail = Some(e);
                }
            }
        }
        {
            let mut st = self.state.lock().unwrap();
            let index = st.bump();
            if let Some(a) = st.allocs.iter_mut().find(|a| a.id == alloc_id) {
                if a.desired_status != "run" {
                    drop(st);
                    // Stopped while it started: the stop's own task may
                    // have looked before the driver knew the allocation.
                    if let Some(driver) = self.driver.clone() {
                        let alloc_id = alloc_id.clone();
                        tokio::spawn(async move { driver.stop(&alloc_id).await });
                    }
                    return;
                }
                let mut state = TaskState {
                    state: "running".into(),
                    events: vec![event("Received", ""), event("Started", "")],
                    ..Default::default()
                };
                if let Some(message) = &fail {
                    state.state = "dead".into();
                    state.failed = true;
                    state.events.push(TaskEvent {
                        r#type: "Driver Failure".into(),
                        fails_task: true,
                        display_message: message.clone(),
                        driver_error: message.clone(),
                        ..Default::default()
                    });
                    a.client_status = "failed".into();
                } else {
                    a.client_status = "running".into();
                }
                a.task_states = BTreeMap::from([("engine".to_string(), state)]);
                a.modify_index = index;
            }
            self.notify(&st);
        }
        tokio::time::sleep(STEP).await;
        let mut st = self.state.lock().unwrap();
        let index = st.bump();
        if let Some(a) = st.allocs.iter_mut().find(|a| a.id == alloc_id) {
            a.deployment_status = Some(AllocDeploymentStatus {
                healthy: Some(fail.is_none()),
                modify_index: index,
                ..Default::default()
            });
            a.modify_index = index;
        }
        if let Some(d) = st.deployments.iter_mut().find(|d| d.id == deployment_id) {
            if d.status == "running" {
                if fail.is_some() {
                    d.status = "failed".into();
                    d.status_description = "Failed due to unhealthy allocations".into();
                } else {
                    d.status = "successful".into();
                    d.status_description = "Deployment completed successfully".into();
                }
                d.modify_index = index;
            }
        }
        self.notify(&st);
    }

    /// Waits until `resource_index` passes `index` or `wait` runs out.
    async fn block(&self, q: &BlockingQuery, resource_index: impl Fn(&State0) -> u64) -> u64 {
        let mut rx = self.changed.subscribe();
        let current = resource_index(&self.state.lock().unwrap());
        let Some(index) = q.index else {
            return current.max(1);
        };
        let wait = q
            .wait
            .as_deref()
            .and_then(dbaas_nomad::parse_duration_nanos)
            .map(|n| Duration::from_nanos(n as u64))
            .unwrap_or(Duration::from_secs(300));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let current = resource_index(&self.state.lock().unwrap());
            if current > index {
                return current;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return current.max(1);
            }
        }
    }
}

fn event(kind: &str, message: &str) -> TaskEvent {
    TaskEvent {
        r#type: kind.into(),
        display_message: message.into(),
        ..Default::default()
    }
}

#[derive(Debug, Deserialize)]
struct BlockingQuery {
    index: Option<u64>,
    wait: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StopQuery {
    purge: Option<bool>,
}

fn with_index<T: serde::Serialize>(index: u64, body: &T) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("X-Nomad-Index", HeaderValue::from(index));
    headers.insert("X-Nomad-KnownLeader", HeaderValue::from_static("true"));
    headers.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
    (headers, Json(body)).into_response()
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("{what} not found")).into_response()
}

async fn faults(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let delay = sim.state.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let failing = sim
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "rpc error: No cluster leader",
        )
            .into_response();
    }
    next.run(request).await
}

async fn register(State(sim): State<Sim>, Json(req): Json<JobRegisterRequest>) -> Response {
    let mut st = sim.state.lock().unwrap();
    if let Some(other) = st.interloper.take() {
        sim.apply_register(&mut st, other);
    }
    let id = req.job.id.clone().unwrap_or_default();
    if id.is_empty() {
        return (StatusCode::BAD_REQUEST, "missing job ID").into_response();
    }
    if req.enforce_index {
        let wanted = req.job_modify_index.unwrap_or(0);
        let current = st.jobs.get(&id).and_then(|e| e.job.job_modify_index);
        // Nomad's messages (nomad/job_endpoint.go), answered as 500 like
        // every RPC error.
        let refusal = match current {
            None if wanted != 0 => Some(format!(
                "Enforcing job modify index {wanted}: job does not exist"
            )),
            Some(cur) if cur != wanted => Some(format!(
                "Enforcing job modify index {wanted}: job exists with conflicting job modify index: {cur}"
            )),
            _ => None,
        };
        if let Some(message) = refusal {
            st.registers.push(RegisterRecord {
                enforce_index: true,
                job_modify_index: req.job_modify_index,
                accepted_at: None,
            });
            sim.notify(&st);
            return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
        }
    }
    let (index, eval_id) = sim.apply_register(&mut st, req.job);
    st.registers.push(RegisterRecord {
        enforce_index: req.enforce_index,
        job_modify_index: req.job_modify_index,
        accepted_at: Some(index),
    });
    sim.notify(&st);
    Json(JobRegisterResponse {
        eval_id,
        eval_create_index: index,
        job_modify_index: index,
        index,
        known_leader: true,
        ..Default::default()
    })
    .into_response()
}

async fn read_job(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let st = sim.state.lock().unwrap();
    match st.jobs.get(&id) {
        Some(e) => with_index(e.job.modify_index.unwrap_or(1), &e.job),
        None => not_found("job"),
    }
}

async fn stop_job(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> Response {
    let purge = q.purge.unwrap_or(false);
    let mut st = sim.state.lock().unwrap();
    if !st.jobs.contains_key(&id) {
        return not_found("job");
    }
    let index = st.bump();
    let eval_id = st.new_id();
    let mut to_complete = Vec::new();
    for a in st.allocs.iter_mut().filter(|a| a.job_id == id) {
        if a.desired_status == "run" {
            a.desired_status = "stop".into();
            a.modify_index = index;
            to_complete.push(a.id.clone());
        }
    }
    if purge {
        st.jobs.remove(&id);
    } else if let Some(e) = st.jobs.get_mut(&id) {
        e.job.stop = Some(true);
        e.job.status = Some("dead".into());
        e.job.modify_index = Some(index);
        e.job.job_modify_index = Some(index);
    }
    sim.notify(&st);
    drop(st);
    // The client stops the tasks a moment later.
    let sim2 = sim.clone();
    tokio::spawn(async move {
        tokio::time::sleep(STEP).await;
        if let Some(driver) = &sim2.driver {
            for id in &to_complete {
                driver.stop(id).await;
            }
        }
        let mut st = sim2.state.lock().unwrap();
        let index = st.bump();
        for a in st.allocs.iter_mut().filter(|a| to_complete.contains(&a.id)) {
            a.client_status = "complete".into();
            a.modify_index = index;
        }
        sim2.notify(&st);
    });
    Json(JobStopResponse {
        eval_id,
        eval_create_index: index,
        job_modify_index: index,
    })
    .into_response()
}

async fn job_allocations(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(q): Query<BlockingQuery>,
) -> Response {
    let idx = {
        let id = id.clone();
        sim.block(&q, move |st| {
            st.allocs
                .iter()
                .filter(|a| a.job_id == id)
                .map(|a| a.modify_index)
                .max()
                .unwrap_or(0)
        })
        .await
    };
    let st = sim.state.lock().unwrap();
    let list: Vec<_> = st
        .allocs
        .iter()
        .filter(|a| a.job_id == id)
        .cloned()
        .collect();
    with_index(idx, &list)
}

async fn latest_deployment(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let st = sim.state.lock().unwrap();
    if !st.jobs.contains_key(&id) {
        return not_found("job");
    }
    let latest = st
        .deployments
        .iter()
        .filter(|d| d.job_id == id)
        .max_by_key(|d| d.create_index)
        .cloned();
    let index = latest.as_ref().map(|d| d.modify_index).unwrap_or(1);
    with_index(index, &latest)
}

async fn read_deployment(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(q): Query<BlockingQuery>,
) -> Response {
    let idx = {
        let id = id.clone();
        sim.block(&q, move |st| {
            st.deployments
                .iter()
                .find(|d| d.id == id)
                .map(|d| d.modify_index)
                .unwrap_or(0)
        })
        .await
    };
    let st = sim.state.lock().unwrap();
    match st.deployments.iter().find(|d| d.id == id) {
        Some(d) => with_index(idx, d),
        None => not_found("deployment"),
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    prefix: Option<String>,
}

async fn list_jobs(State(sim): State<Sim>, Query(q): Query<ListQuery>) -> Response {
    let st = sim.state.lock().unwrap();
    let prefix = q.prefix.unwrap_or_default();
    let list: Vec<dbaas_nomad::JobListStub> = st
        .jobs
        .values()
        .filter(|e| e.job.id.as_deref().unwrap_or("").starts_with(&prefix))
        .map(|e| dbaas_nomad::JobListStub {
            id: e.job.id.clone().unwrap_or_default(),
            parent_id: e.job.parent_id.clone().unwrap_or_default(),
            status: e.job.status.clone().unwrap_or_default(),
            job_modify_index: e.job.job_modify_index.unwrap_or(0),
            modify_index: e.job.modify_index.unwrap_or(0),
            ..Default::default()
        })
        .collect();
    with_index(st.index.max(1), &list)
}

#[derive(Debug, Deserialize)]
struct DispatchQuery {
    idempotency_token: Option<String>,
}

async fn dispatch(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(q): Query<DispatchQuery>,
    Json(req): Json<dbaas_nomad::JobDispatchRequest>,
) -> Response {
    let mut st = sim.state.lock().unwrap();
    let Some(parent) = st.jobs.get(&id).map(|e| e.job.clone()) else {
        return not_found("job");
    };
    let Some(params) = parent.parameterized_job.clone() else {
        return (
            StatusCode::BAD_REQUEST,
            "Specified job is not a parameterized job",
        )
            .into_response();
    };
    let meta = req.meta.clone().unwrap_or_default();
    for key in params.meta_required.clone().unwrap_or_default() {
        if !meta.contains_key(&key) {
            return (
                StatusCode::BAD_REQUEST,
                format!("Dispatch did not provide required meta keys: [{key}]"),
            )
                .into_response();
        }
    }
    if req.payload.is_some() && params.payload.as_deref() == Some("forbidden") {
        return (StatusCode::BAD_REQUEST, "Payload is not allowed").into_response();
    }
    // Nomad: a child with the same token that is not dead is the answer.
    let existing = q.idempotency_token.as_ref().and_then(|token| {
        st.jobs
            .values()
            .find(|e| {
                e.job.parent_id.as_deref() == Some(id.as_str())
                    && e.job.dispatch_idempotency_token.as_ref() == Some(token)
                    && e.job.status.as_deref() != Some("dead")
            })
            .map(|e| e.job.id.clone().unwrap_or_default())
    });
    let index = st.bump();
    let (child_id, created) = match existing {
        Some(child) => (child, false),
        None => {
            let n = st.new_id();
            let child_id = match &req.id_prefix_template {
                Some(p) => format!("{id}/dispatch-{p}-{}-{}", 1_700_000_000 + index, &n[..8]),
                None => format!("{id}/dispatch-{}-{}", 1_700_000_000 + index, &n[..8]),
            };
            let mut child = parent.clone();
            child.id = Some(child_id.clone());
            child.name = Some(child_id.clone());
            child.parent_id = Some(id.clone());
            child.parameterized_job = None;
            child.dispatched = Some(true);
            child.dispatch_idempotency_token = q.idempotency_token.clone();
            child
                .meta
                .get_or_insert_with(Default::default)
                .extend(meta.clone());
            child.status = Some("pending".into());
            child.version = Some(0);
            child.create_index = Some(index);
            child.modify_index = Some(index);
            child.job_modify_index = Some(index);
            let spec = serde_json::to_value(&child).unwrap();
            st.jobs
                .insert(child_id.clone(), JobEntry { job: child, spec });
            let alloc_id = st.new_id();
            st.allocs.push(AllocationListStub {
                id: alloc_id.clone(),
                name: format!("{child_id}.sql[0]"),
                node_id: "node-1".into(),
                node_name: "pair-1-a".into(),
                job_id: child_id.clone(),
                task_group: "sql".into(),
                desired_status: "run".into(),
                client_status: "pending".into(),
                create_index: index,
                modify_index: index,
                ..Default::default()
            });
            let result = st
                .sql_results
                .get(meta.get("sql_object").map(String::as_str).unwrap_or(""))
                .cloned()
                .unwrap_or(SqlResult {
                    fetch_exit: 0,
                    exit_code: 0,
                    stdout: "ok\n".into(),
                    stderr: String::new(),
                });
            let sim2 = sim.clone();
            let child2 = child_id.clone();
            tokio::spawn(async move { sim2.run_sql(child2, alloc_id, result).await });
            (child_id, true)
        }
    };
    st.dispatches.push(DispatchRecord {
        token: q.idempotency_token.clone(),
        child: child_id.clone(),
        created,
    });
    sim.notify(&st);
    if st.lose_dispatch_answers > 0 {
        st.lose_dispatch_answers -= 1;
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "rpc error: EOF (answer lost)",
        )
            .into_response();
    }
    Json(dbaas_nomad::JobDispatchResponse {
        dispatched_job_id: child_id,
        eval_id: String::new(),
        eval_create_index: index,
        job_create_index: index,
        index,
    })
    .into_response()
}

fn terminated(exit: i64) -> TaskEvent {
    TaskEvent {
        r#type: "Terminated".into(),
        exit_code: exit,
        display_message: format!("Exit Code: {exit}"),
        ..Default::default()
    }
}

impl Sim {
    /// The client runs a dispatched SQL job: fetch, then psql.
    async fn run_sql(&self, child: String, alloc_id: String, result: SqlResult) {
        tokio::time::sleep(STEP).await;
        {
            let mut st = self.state.lock().unwrap();
            let index = st.bump();
            if let Some(a) = st.allocs.iter_mut().find(|a| a.id == alloc_id) {
                a.client_status = "running".into();
                a.task_states = BTreeMap::from([(
                    "fetch".to_string(),
                    TaskState {
                        state: "running".into(),
                        events: vec![event("Started", "")],
                        ..Default::default()
                    },
                )]);
                a.modify_index = index;
            }
            if let Some(e) = st.jobs.get_mut(&child) {
                e.job.status = Some("running".into());
            }
            self.notify(&st);
        }
        tokio::time::sleep(STEP).await;
        let mut st = self.state.lock().unwrap();
        let index = st.bump();
        let fetch_failed = result.fetch_exit != 0;
        let mut states = BTreeMap::from([(
            "fetch".to_string(),
            TaskState {
                state: "dead".into(),
                failed: fetch_failed,
                events: vec![event("Started", ""), terminated(result.fetch_exit)],
                ..Default::default()
            },
        )]);
        let mut logs = Vec::new();
        if fetch_failed {
            logs.push(("fetch", "stderr", result.stderr.clone()));
        } else {
            states.insert(
                "sql".to_string(),
                TaskState {
                    state: "dead".into(),
                    failed: result.exit_code != 0,
                    events: vec![event("Started", ""), terminated(result.exit_code)],
                    ..Default::default()
                },
            );
            logs.push(("sql", "stdout", result.stdout.clone()));
            logs.push(("sql", "stderr", result.stderr.clone()));
        }
        for (task, kind, text) in logs {
            st.logs.insert(
                (alloc_id.clone(), task.to_string(), kind.to_string()),
                text.into_bytes(),
            );
        }
        if let Some(a) = st.allocs.iter_mut().find(|a| a.id == alloc_id) {
            a.client_status = if fetch_failed || result.exit_code != 0 {
                "failed".into()
            } else {
                "complete".into()
            };
            a.task_states = states;
            a.modify_index = index;
        }
        if let Some(e) = st.jobs.get_mut(&child) {
            e.job.status = Some("dead".into());
            e.job.modify_index = Some(index);
        }
        self.notify(&st);
    }
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    task: String,
    r#type: String,
    plain: Option<bool>,
}

async fn read_logs(
    State(sim): State<Sim>,
    Path(alloc): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Response {
    assert_eq!(q.plain, Some(true), "the runtime reads plain logs");
    let st = sim.state.lock().unwrap();
    if !st.allocs.iter().any(|a| a.id == alloc) {
        return not_found("allocation");
    }
    match st.logs.get(&(alloc, q.task, q.r#type)) {
        Some(bytes) => bytes.clone().into_response(),
        None => not_found("log file"),
    }
}

#[derive(Debug, Deserialize)]
struct CasQuery {
    cas: Option<u64>,
}

async fn read_var(State(sim): State<Sim>, Path(path): Path<String>) -> Response {
    let st = sim.state.lock().unwrap();
    match st.vars.get(&path) {
        Some(v) => with_index(v.modify_index, v),
        None => not_found("variable"),
    }
}

/// Nomad: with `cas`, the write applies only if the current ModifyIndex is
/// `cas` (0: absent); otherwise 409 with the current variable.
async fn put_var(
    State(sim): State<Sim>,
    Path(path): Path<String>,
    Query(q): Query<CasQuery>,
    Json(body): Json<dbaas_nomad::Variable>,
) -> Response {
    let mut st = sim.state.lock().unwrap();
    let current = st.vars.get(&path).cloned();
    if let Some(cas) = q.cas {
        if current.as_ref().map(|v| v.modify_index).unwrap_or(0) != cas {
            return (StatusCode::CONFLICT, Json(current.unwrap_or_default())).into_response();
        }
    }
    let index = st.bump();
    let stored = dbaas_nomad::Variable {
        namespace: "default".into(),
        path: path.clone(),
        items: body.items,
        create_index: current.as_ref().map(|v| v.create_index).unwrap_or(index),
        modify_index: index,
        ..Default::default()
    };
    st.vars.insert(path, stored.clone());
    sim.notify(&st);
    Json(stored).into_response()
}

async fn delete_var(
    State(sim): State<Sim>,
    Path(path): Path<String>,
    Query(q): Query<CasQuery>,
) -> Response {
    let mut st = sim.state.lock().unwrap();
    let current = st.vars.get(&path).cloned();
    if let Some(cas) = q.cas {
        if current.as_ref().map(|v| v.modify_index).unwrap_or(0) != cas {
            return (StatusCode::CONFLICT, Json(current.unwrap_or_default())).into_response();
        }
    }
    st.vars.remove(&path);
    StatusCode::OK.into_response()
}
