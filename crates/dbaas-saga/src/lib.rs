//! Durable sagas.
//!
//! An operation is a fixed sequence of steps, each with a `run` and an
//! `undo`. The engine records every transition of every step in the saga
//! log (the state store) *before* and *after* it happens, so after a crash
//! at any instant the log tells exactly which steps may have had effects:
//!
//! * steps `done`: their effects exist;
//! * the one step `running` (at most one): its effects may partly exist.
//!
//! Recovery runs the operation again from the first step not `done`: steps
//! are idempotent (deterministic names, look up before create), so re-running
//! the interrupted step is safe. When a step fails, every step that may have
//! had effects, including the failed one, is undone in reverse order; undos
//! are idempotent too, so an interrupted unwind is simply run again.
//!
//! Some steps cannot be undone (deleting a volume). Once such a step has
//! started, a failure no longer unwinds: the operation ends `failed` with
//! its error, and the workflow layer marks the target so that the user can
//! retry (retrying re-runs the idempotent steps to completion).
//!
//! Some steps must not run twice (a user's SQL). Such a step, found
//! `running` after a crash, is not re-run: it fails with an error that says
//! the outcome is unknown.
//!
//! Failpoints let tests crash or fail the agent at each step: see
//! [`Failpoints`].

mod failpoints;
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use dbaas_model::{OperationRecord, OperationState, StepRecord, StepState};

pub use failpoints::{FailAction, Failpoints};

/// Why a step failed: a message for the user (what failed, what to do).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl StepError {
    pub fn new(msg: impl Into<String>) -> Self {
        StepError(msg.into())
    }
}

/// A step's view of its operation: parameters and earlier outputs.
pub struct StepCtx<'a> {
    pub record: &'a OperationRecord,
}

impl StepCtx<'_> {
    pub fn op_id(&self) -> &str {
        &self.record.op.id
    }
    pub fn target(&self) -> &str {
        &self.record.op.target
    }
    pub fn params(&self) -> &serde_json::Value {
        &self.record.params
    }
    /// Output of an earlier step, if it completed.
    pub fn output(&self, step: &str) -> Option<&serde_json::Value> {
        self.record.outputs.get(step)
    }
}

/// One step of a saga. `C` is the context the workflow gives its steps
/// (drivers, store).
#[async_trait]
pub trait Step<C: Send + Sync>: Send + Sync {
    /// Stable name: shown to users, recorded in the log, used by failpoints.
    fn name(&self) -> &'static str;
    /// Does the work. Must be idempotent: running it again after it
    /// completed, or after it was interrupted, gives the same result.
    async fn run(&self, ctx: &C, step: &StepCtx<'_>) -> Result<serde_json::Value, StepError>;
    /// Removes whatever `run` may have made, fully or partly. Idempotent;
    /// undoing something that does not exist succeeds.
    async fn undo(&self, ctx: &C, step: &StepCtx<'_>) -> Result<(), StepError>;
    /// False when the effects of `run` cannot be undone (data destroyed).
    fn reversible(&self) -> bool {
        true
    }
    /// False when `run` must never run twice (a user's SQL).
    fn repeatable(&self) -> bool {
        true
    }
}

/// A saga: a name and its steps in order.
pub struct SagaDef<C: Send + Sync> {
    pub name: &'static str,
    pub steps: Vec<Arc<dyn Step<C>>>,
}

impl<C: Send + Sync> SagaDef<C> {
    /// The step records of a new operation of this saga.
    pub fn new_steps(&self) -> Vec<StepRecord> {
        self.steps
            .iter()
            .map(|s| StepRecord {
                name: s.name().to_string(),
                state: StepState::Pending,
                started_at: None,
                finished_at: None,
                error: None,
            })
            .collect()
    }
}

/// Where the engine persists the operation after every transition.
///
/// When a save fails the saga stops where it is, with nothing more done
/// and nothing marked failed: the log still holds the last saved state,
/// from which the operation is resumed (at the next start of the agent,
/// or by the next leader when this agent's writes were fenced off).
#[async_trait]
pub trait SagaLog: Send + Sync {
    async fn save(&self, record: &OperationRecord) -> Result<(), String>;
}

/// Options for exercising sagas in tests; production uses the default.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run each repeatable step's `run` twice in a row.
    pub repeat_runs: bool,
    /// Run each `undo` twice in a row.
    pub repeat_undos: bool,
}

/// Executes sagas against a log.
pub struct Executor<'a, C: Send + Sync> {
    pub ctx: &'a C,
    pub log: &'a dyn SagaLog,
    pub failpoints: &'a Failpoints,
    pub options: RunOptions,
}

impl<C: Send + Sync> Executor<'_, C> {
    async fn save(&self, rec: &mut OperationRecord) -> Result<(), StepError> {
        rec.op.updated_at = Utc::now();
        self.log.save(rec).await.map_err(|e| {
            StepError::new(format!("could not record progress in the state store: {e}"))
        })
    }

    /// Runs (or resumes) an operation to a finished state. Returns the
    /// final record, or one still `unwinding` when an undo failed (to be
    /// retried). An `Err` means the saga log itself could not be
    /// written: the operation stays unfinished and is resumed at the next
    /// start of the agent.
    pub async fn execute(
        &self,
        saga: &SagaDef<C>,
        mut rec: OperationRecord,
    ) -> Result<OperationRecord, StepError> {
        if rec.op.steps.is_empty() {
            rec.op.steps = saga.new_steps();
        }
        debug_assert_eq!(rec.op.steps.len(), saga.steps.len());
        match rec.op.state {
            OperationState::Succeeded | OperationState::Failed | OperationState::Unwound => {
                return Ok(rec)
            }
            OperationState::Unwinding => {
                self.unwind(saga, &mut rec).await?;
                return Ok(rec);
            }
            OperationState::Pending | OperationState::Running => {}
        }
        rec.op.state = OperationState::Running;
        self.save(&mut rec).await?;

        for i in 0..saga.steps.len() {
            let step = &saga.steps[i];
            if rec.op.steps[i].state == StepState::Done {
                continue;
            }
            let interrupted = rec.op.steps[i].state == StepState::Running;
            let result = if interrupted && !step.repeatable() {
                Err(StepError::new(format!(
                    "the agent stopped while step {} was running; it is not safe to run it again, so its outcome is unknown: check the database and submit it again if needed",
                    step.name()
                )))
            } else {
                rec.op.steps[i].state = StepState::Running;
                rec.op.steps[i].started_at = Some(Utc::now());
                rec.op.steps[i].error = None;
                self.save(&mut rec).await?;
                self.run_step(saga, step.as_ref(), &rec).await
            };
            match result {
                Ok(output) => {
                    rec.outputs.insert(step.name().to_string(), output);
                    rec.op.steps[i].state = StepState::Done;
                    rec.op.steps[i].finished_at = Some(Utc::now());
                    self.save(&mut rec).await?;
                    self.failpoints.crash_point(saga.name, step.name(), "after");
                }
                Err(e) => {
                    tracing::warn!(op = %rec.op.id, saga = saga.name, step = step.name(), error = %e, "step failed");
                    rec.op.steps[i].state = StepState::Failed;
                    rec.op.steps[i].finished_at = Some(Utc::now());
                    rec.op.steps[i].error = Some(e.0.clone());
                    rec.op.error = Some(format!("step {} failed: {}", step.name(), e.0));
                    let past_no_return = saga.steps[..=i]
                        .iter()
                        .zip(&rec.op.steps)
                        .any(|(s, r)| !s.reversible() && r.state != StepState::Pending);
                    if past_no_return {
                        rec.op.state = OperationState::Failed;
                        self.save(&mut rec).await?;
                    } else {
                        rec.op.state = OperationState::Unwinding;
                        self.save(&mut rec).await?;
                        self.unwind(saga, &mut rec).await?;
                    }
                    return Ok(rec);
                }
            }
        }
        rec.op.state = OperationState::Succeeded;
        self.save(&mut rec).await?;
        Ok(rec)
    }

    async fn run_step(
        &self,
        saga: &SagaDef<C>,
        step: &dyn Step<C>,
        rec: &OperationRecord,
    ) -> Result<serde_json::Value, StepError> {
        self.failpoints
            .crash_point(saga.name, step.name(), "before");
        let ctx = StepCtx { record: rec };
        let mut out = step.run(self.ctx, &ctx).await?;
        if self.options.repeat_runs && step.repeatable() {
            out = step.run(self.ctx, &ctx).await?;
        }
        // An injected failure comes after the real work, so the unwind has
        // real effects to remove.
        self.failpoints.error_point(saga.name, step.name())?;
        Ok(out)
    }

    async fn unwind(&self, saga: &SagaDef<C>, rec: &mut OperationRecord) -> Result<(), StepError> {
        for i in (0..saga.steps.len()).rev() {
            let state = rec.op.steps[i].state;
            if matches!(state, StepState::Pending | StepState::Undone) {
                continue;
            }
            let step = &saga.steps[i];
            rec.op.steps[i].state = StepState::Undoing;
            self.save(rec).await?;
            self.failpoints.crash_point(saga.name, step.name(), "undo");
            let ctx = StepCtx { record: rec };
            let mut result = step.undo(self.ctx, &ctx).await;
            if result.is_ok() && self.options.repeat_undos {
                result = step.undo(self.ctx, &ctx).await;
            }
            if let Err(e) = result {
                tracing::error!(op = %rec.op.id, step = step.name(), error = %e, "undo failed");
                rec.op.steps[i].error = Some(format!("undo failed: {}", e.0));
                let first = rec.op.error.take().unwrap_or_default();
                rec.op.error = Some(format!(
                    "{first}; then undoing step {} failed: {} (the undo is retried)",
                    step.name(),
                    e.0
                ));
                // The operation stays unwinding: whoever runs it retries
                // later, and so does the next start of the agent.
                self.save(rec).await?;
                return Ok(());
            }
            rec.op.steps[i].state = StepState::Undone;
            rec.op.steps[i].finished_at = Some(Utc::now());
            self.save(rec).await?;
        }
        rec.op.state = OperationState::Unwound;
        self.save(rec).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::Utc;
    use dbaas_model::{Operation, OperationKind};

    use super::*;

    /// A world of named resources and a journal of what ran.
    #[derive(Default)]
    struct World {
        resources: Mutex<Vec<String>>,
        journal: Mutex<Vec<String>>,
        saved: Mutex<Vec<OperationRecord>>,
        fail_undo: Mutex<bool>,
    }

    #[async_trait]
    impl SagaLog for World {
        async fn save(&self, r: &OperationRecord) -> Result<(), String> {
            self.saved.lock().unwrap().push(r.clone());
            Ok(())
        }
    }

    struct Make {
        name: &'static str,
        reversible: bool,
        repeatable: bool,
    }

    #[async_trait]
    impl Step<World> for Make {
        fn name(&self) -> &'static str {
            self.name
        }
        async fn run(&self, w: &World, _s: &StepCtx<'_>) -> Result<serde_json::Value, StepError> {
            w.journal.lock().unwrap().push(format!("run {}", self.name));
            let mut r = w.resources.lock().unwrap();
            if !r.contains(&self.name.to_string()) {
                r.push(self.name.to_string());
            }
            Ok(serde_json::json!(self.name))
        }
        async fn undo(&self, w: &World, _s: &StepCtx<'_>) -> Result<(), StepError> {
            w.journal
                .lock()
                .unwrap()
                .push(format!("undo {}", self.name));
            if *w.fail_undo.lock().unwrap() {
                return Err(StepError::new("cloud said no"));
            }
            w.resources.lock().unwrap().retain(|x| x != self.name);
            Ok(())
        }
        fn reversible(&self) -> bool {
            self.reversible
        }
        fn repeatable(&self) -> bool {
            self.repeatable
        }
    }

    fn saga(steps: &[(&'static str, bool, bool)]) -> SagaDef<World> {
        SagaDef {
            name: "test",
            steps: steps
                .iter()
                .map(|&(name, reversible, repeatable)| {
                    Arc::new(Make {
                        name,
                        reversible,
                        repeatable,
                    }) as Arc<dyn Step<World>>
                })
                .collect(),
        }
    }

    fn record() -> OperationRecord {
        let now = Utc::now();
        OperationRecord {
            op: Operation {
                id: "op".into(),
                kind: OperationKind::CreateDatabase,
                target: "t".into(),
                state: OperationState::Pending,
                steps: vec![],
                error: None,
                created_at: now,
                updated_at: now,
            },
            params: serde_json::Value::Null,
            outputs: Default::default(),
        }
    }

    async fn exec(
        w: &World,
        s: &SagaDef<World>,
        fp: &Failpoints,
        rec: OperationRecord,
    ) -> OperationRecord {
        Executor {
            ctx: w,
            log: w,
            failpoints: fp,
            options: RunOptions::default(),
        }
        .execute(s, rec)
        .await
        .unwrap()
    }

    const ABC: &[(&str, bool, bool)] = &[("a", true, true), ("b", true, true), ("c", true, true)];

    #[tokio::test]
    async fn all_steps_run_in_order_and_are_recorded() {
        let w = World::default();
        let done = exec(&w, &saga(ABC), &Failpoints::none(), record()).await;
        assert_eq!(done.op.state, OperationState::Succeeded);
        assert!(done.op.steps.iter().all(|s| s.state == StepState::Done));
        assert_eq!(*w.journal.lock().unwrap(), ["run a", "run b", "run c"]);
        assert_eq!(done.outputs["b"], serde_json::json!("b"));
        // Each step was recorded running before it ran, then done.
        let saved = w.saved.lock().unwrap();
        assert!(saved
            .iter()
            .any(|r| r.op.steps[1].state == StepState::Running
                && r.op.steps[0].state == StepState::Done));
    }

    #[tokio::test]
    async fn a_failure_undoes_every_started_step_in_reverse() {
        let w = World::default();
        let fp = Failpoints::parse("test.b.error=error").unwrap();
        let done = exec(&w, &saga(ABC), &fp, record()).await;
        assert_eq!(done.op.state, OperationState::Unwound);
        assert!(done.op.error.unwrap().contains("step b failed"));
        assert_eq!(
            *w.journal.lock().unwrap(),
            ["run a", "run b", "undo b", "undo a"]
        );
        assert!(w.resources.lock().unwrap().is_empty());
        assert_eq!(done.op.steps[2].state, StepState::Pending);
    }

    #[tokio::test]
    async fn resuming_skips_done_steps_and_reruns_the_interrupted_one() {
        let w = World::default();
        let s = saga(ABC);
        let mut rec = record();
        rec.op.steps = s.new_steps();
        rec.op.state = OperationState::Running;
        rec.op.steps[0].state = StepState::Done;
        rec.op.steps[1].state = StepState::Running;
        let done = exec(&w, &s, &Failpoints::none(), rec).await;
        assert_eq!(done.op.state, OperationState::Succeeded);
        assert_eq!(*w.journal.lock().unwrap(), ["run b", "run c"]);
    }

    #[tokio::test]
    async fn past_an_irreversible_step_a_failure_fails_forward() {
        let w = World::default();
        let s = saga(&[
            ("a", true, true),
            ("destroy", false, true),
            ("c", true, true),
        ]);
        let fp = Failpoints::parse("test.c.error=error").unwrap();
        let done = exec(&w, &s, &fp, record()).await;
        assert_eq!(done.op.state, OperationState::Failed);
        assert!(!w
            .journal
            .lock()
            .unwrap()
            .iter()
            .any(|j| j.starts_with("undo")));
    }

    #[tokio::test]
    async fn an_unrepeatable_step_found_running_is_not_run_again() {
        let w = World::default();
        let s = saga(&[("check", true, true), ("user_sql", false, false)]);
        let mut rec = record();
        rec.op.steps = s.new_steps();
        rec.op.state = OperationState::Running;
        rec.op.steps[0].state = StepState::Done;
        rec.op.steps[1].state = StepState::Running;
        let done = exec(&w, &s, &Failpoints::none(), rec).await;
        assert_eq!(done.op.state, OperationState::Failed);
        assert!(done.op.error.unwrap().contains("outcome is unknown"));
        assert!(w.journal.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_undo_leaves_the_operation_unwinding_to_be_retried() {
        let w = World::default();
        *w.fail_undo.lock().unwrap() = true;
        let fp = Failpoints::parse("test.b.error=error").unwrap();
        let done = exec(&w, &saga(ABC), &fp, record()).await;
        assert_eq!(done.op.state, OperationState::Unwinding);
        assert!(done
            .op
            .error
            .as_deref()
            .unwrap()
            .contains("undoing step b failed"));
        let last = w.saved.lock().unwrap().last().unwrap().clone();
        assert_eq!(last.op.state, OperationState::Unwinding);
        // The restart: undos work again, the unwind completes.
        *w.fail_undo.lock().unwrap() = false;
        let done = exec(&w, &saga(ABC), &Failpoints::none(), last).await;
        assert_eq!(done.op.state, OperationState::Unwound);
        assert!(w.resources.lock().unwrap().is_empty());
    }

    #[test]
    fn failpoint_specs_are_checked() {
        assert!(Failpoints::parse("a.b.after=crash,a.c.error=error").is_ok());
        assert!(Failpoints::parse("a.b.after")
            .unwrap_err()
            .contains("NAME=crash"));
        assert!(Failpoints::parse("a.b.after=explode")
            .unwrap_err()
            .contains("unknown action"));
    }
}
