//! Failpoints: named places where the agent can be made to crash (a real
//! SIGKILL of itself) or to fail a step, to prove that every operation
//! survives both.
//!
//! Names are `SAGA.STEP.WHEN` where WHEN is `before` (the step is recorded
//! running, nothing done yet), `after` (the step is recorded done), `undo`
//! (the undo is recorded started) or `error` (the step ran, then reports a
//! failure). They are switched on by the environment variable
//! `DBAAS_FAILPOINTS` or the agent configuration, as a comma-separated list
//! of `NAME=ACTION`, ACTION being `crash` or `error`, e.g.
//! `DBAAS_FAILPOINTS=create_database.start_engine.after=crash`.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::StepError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// Kill the agent with SIGKILL: no destructor, no flush, like a power cut.
    Crash,
    /// Make the step fail after it ran.
    Error,
}

/// The set of failpoints switched on.
#[derive(Debug, Default)]
pub struct Failpoints {
    points: Mutex<HashMap<String, FailAction>>,
}

impl Failpoints {
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses `NAME=ACTION,NAME=ACTION`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let fp = Self::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, action) = item
                .split_once('=')
                .ok_or_else(|| format!("failpoint {item:?}: expected NAME=crash or NAME=error"))?;
            let action = match action {
                "crash" => FailAction::Crash,
                "error" => FailAction::Error,
                other => {
                    return Err(format!(
                        "failpoint {name:?}: unknown action {other:?}; use crash or error"
                    ))
                }
            };
            fp.set(name, action);
        }
        Ok(fp)
    }

    /// Reads `DBAAS_FAILPOINTS`.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("DBAAS_FAILPOINTS") {
            Ok(s) => Self::parse(&s),
            Err(_) => Ok(Self::none()),
        }
    }

    pub fn set(&self, name: &str, action: FailAction) {
        self.points.lock().unwrap().insert(name.to_string(), action);
    }

    fn get(&self, name: &str) -> Option<FailAction> {
        self.points.lock().unwrap().get(name).copied()
    }

    /// Crashes the process if `SAGA.STEP.WHEN` is set to crash.
    pub fn crash_point(&self, saga: &str, step: &str, when: &str) {
        let name = format!("{saga}.{step}.{when}");
        if self.get(&name) == Some(FailAction::Crash) {
            tracing::warn!(failpoint = %name, "failpoint: killing the agent");
            eprintln!("failpoint {name}: killing the agent");
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
            // SIGKILL cannot be caught; this is never reached.
            std::process::abort();
        }
    }

    /// Fails if `SAGA.STEP.error` is set.
    pub fn error_point(&self, saga: &str, step: &str) -> Result<(), StepError> {
        let name = format!("{saga}.{step}.error");
        if self.get(&name) == Some(FailAction::Error) {
            return Err(StepError::new(format!(
                "failure injected by failpoint {name}"
            )));
        }
        Ok(())
    }
}
