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
pub trait SagaLog: Send + Sync {
    fn save(&self, record: &OperationRecord) -> Result<(), String>;
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
    fn save(&self, rec: &mut OperationRecord) -> Result<(), StepError> {
        rec.op.updated_at = Utc::now();
        self.log.save(rec).map_err(|e| {
            StepError::new(format!("could not record progress in the state store: {e}"))
        })
    }

    /// Runs (or resumes) an operation to a finished state. Returns the
    /// final record. An `Err` means the saga log itself could not be
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
        self.save(&mut rec)?;

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
                self.save(&mut rec)?;
                self.run_step(saga, step.as_ref(), &rec).await
            };
            match result {
                Ok(output) => {
                    rec.outputs.insert(step.name().to_string(), output);
                    rec.op.steps[i].state = StepState::Done;
                    rec.op.steps[i].finished_at = Some(Utc::now());
                    self.save(&mut rec)?;
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
                        self.save(&mut rec)?;
                    } else {
                        rec.op.state = OperationState::Unwinding;
                        self.save(&mut rec)?;
                        self.unwind(saga, &mut rec).await?;
                    }
                    return Ok(rec);
                }
            }
        }
        rec.op.state = OperationState::Succeeded;
        self.save(&mut rec)?;
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
            self.save(rec)?;
            self.failpoints.crash_point(saga.name, step.name(), "undo");
            let ctx = StepCtx { record: rec };
            let mut result = step.undo(self.ctx, &ctx).await;
            if result.is_ok() && self.options.repeat_undos {
                result = step.undo(self.ctx, &ctx).await;
            }
            if let Err(e) = result {
                tracing::error!(op = %rec.op.id, step = step.name(), error = %e, "undo failed");
                rec.op.steps[i].error = Some(format!("undo failed: {}", e.0));
                rec.op.state = OperationState::Failed;
                let first = rec.op.error.take().unwrap_or_default();
                rec.op.error = Some(format!(
                    "{first}; then undoing step {} failed: {} (the agent retries the undo at its next start)",
                    step.name(),
                    e.0
                ));
                // Stay in Unwinding in the log so that a restart retries.
                rec.op.state = OperationState::Unwinding;
                self.save(rec)?;
                rec.op.state = OperationState::Failed;
                return Ok(());
            }
            rec.op.steps[i].state = StepState::Undone;
            rec.op.steps[i].finished_at = Some(Utc::now());
            self.save(rec)?;
        }
        rec.op.state = OperationState::Unwound;
        self.save(rec)?;
        Ok(())
    }
}
