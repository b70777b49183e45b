//! The three checks every saga goes through (after Omicron's saga test
//! helpers). A workflow describes how to set up a fresh world, run its
//! saga, and what "done" and "nothing changed" look like; these helpers
//! then drive it through:
//!
//! 1. [`check_every_step_twice`]: every step's run executed twice in a row
//!    still succeeds, with the same end state (idempotence);
//! 2. [`check_failure_at_each_step`]: a failure injected at each step in
//!    turn unwinds to nothing, or, past a step that cannot be undone,
//!    leaves a failed operation that a retry completes;
//! 3. [`check_unwind_twice`]: the same with every undo run twice.

use async_trait::async_trait;
use dbaas_model::{OperationRecord, OperationState};

use crate::{FailAction, Failpoints, RunOptions};

/// How a workflow's saga is exercised by the checks.
#[async_trait]
pub trait SagaFixture: Send + Sync {
    type World: Send + Sync;
    /// Saga name, as failpoints spell it.
    fn saga_name(&self) -> &'static str;
    /// Names of the saga's steps, in order.
    fn step_names(&self) -> Vec<&'static str>;
    /// A fresh world with a new, accepted operation.
    async fn setup(&self) -> Self::World;
    /// Runs the operation to a finished state, as the agent would.
    async fn run(
        &self,
        world: &Self::World,
        options: RunOptions,
        failpoints: &Failpoints,
    ) -> OperationRecord;
    /// Asserts the operation's intended effects are all there.
    async fn assert_done(&self, world: &Self::World, rec: &OperationRecord);
    /// Asserts the world is as it was before the operation.
    async fn assert_unchanged(&self, world: &Self::World, rec: &OperationRecord);
    /// For a failure past the point of no return: asserts the target shows
    /// the failure, then retries and asserts the retry completes.
    async fn assert_failed_then_retry(&self, world: &Self::World, rec: &OperationRecord);
    /// Releases whatever the world holds (processes, directories).
    async fn teardown(&self, world: Self::World);
}

/// Check 1: every step run twice succeeds.
pub async fn check_every_step_twice<F: SagaFixture>(f: &F) {
    let world = f.setup().await;
    let options = RunOptions {
        repeat_runs: true,
        repeat_undos: false,
    };
    let rec = f.run(&world, options, &Failpoints::none()).await;
    assert_eq!(
        rec.op.state,
        OperationState::Succeeded,
        "{} with every step run twice: {:?}",
        f.saga_name(),
        rec.op.error
    );
    f.assert_done(&world, &rec).await;
    f.teardown(world).await;
}

async fn fail_each_step<F: SagaFixture>(f: &F, repeat_undos: bool) {
    for step in f.step_names() {
        let world = f.setup().await;
        let fp = Failpoints::none();
        fp.set(
            &format!("{}.{step}.error", f.saga_name()),
            FailAction::Error,
        );
        let options = RunOptions {
            repeat_runs: false,
            repeat_undos,
        };
        let rec = f.run(&world, options, &fp).await;
        match rec.op.state {
            OperationState::Unwound => f.assert_unchanged(&world, &rec).await,
            OperationState::Failed => f.assert_failed_then_retry(&world, &rec).await,
            other => panic!(
                "{}: failure injected at {step} left the operation {other:?}: {:?}",
                f.saga_name(),
                rec.op.error
            ),
        }
        let err = rec.op.error.clone().unwrap_or_default();
        assert!(
            err.contains(step),
            "{}: the error should name the failed step {step}: {err}",
            f.saga_name()
        );
        f.teardown(world).await;
    }
}

/// Check 2: a failure injected at each step in turn unwinds to nothing.
pub async fn check_failure_at_each_step<F: SagaFixture>(f: &F) {
    fail_each_step(f, false).await
}

/// Check 3: the unwind itself is idempotent.
pub async fn check_unwind_twice<F: SagaFixture>(f: &F) {
    fail_each_step(f, true).await
}
