//! Heat stacks: create (once per name), wait for a status within a bound,
//! read outputs, validate a template, delete and wait.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::block_storage::{poll, WaitOptions};
use crate::error::{OpenStackError, Result};
use crate::heat::{Stack, StackCreateRequest, StackCreateResponse, StackResponse};
use crate::session::{ApiRequest, Session};

const SERVICE: &str = "orchestration";

#[derive(Deserialize)]
struct StackList {
    stacks: Vec<Stack>,
}

/// Heat through a [`Session`].
#[derive(Debug, Clone)]
pub struct Orchestration {
    session: Arc<Session>,
    wait: WaitOptions,
}

impl Orchestration {
    /// Heat through `session`, waiting at most 15 minutes for a stack.
    pub fn new(session: Arc<Session>) -> Orchestration {
        Orchestration {
            session,
            wait: WaitOptions {
                timeout: std::time::Duration::from_secs(900),
                ..WaitOptions::default()
            },
        }
    }

    /// Replaces the waiting bounds.
    pub fn with_wait(mut self, wait: WaitOptions) -> Orchestration {
        self.wait = wait;
        self
    }

    fn request(&self, method: Method, path: impl Into<String>) -> ApiRequest {
        ApiRequest::new(SERVICE, method, path)
    }

    /// Asks Heat to validate `template` (HOT as a JSON value); returns its
    /// answer (the parameters it found, with their descriptions).
    pub async fn validate_template(&self, template: &Value) -> Result<Value> {
        // Validation changes nothing: a lost answer is simply asked again.
        let retry = self.session.options().retry.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .session
                .send_json(
                    &self
                        .request(Method::POST, "/validate")
                        .json(&json!({ "template": template })),
                )
                .await
            {
                Err(e) if e.is_transient() && attempt < retry.max_attempts => {
                    tokio::time::sleep(retry.backoff(attempt)).await
                }
                r => return r,
            }
        }
    }

    /// The stack named `name`, if any (not one already deleted).
    pub async fn find_stack(&self, name: &str) -> Result<Option<Stack>> {
        let list: StackList = self
            .session
            .send_json(&self.request(Method::GET, "/stacks").query("name", name))
            .await?;
        let Some(found) = list
            .stacks
            .into_iter()
            .find(|s| s.stack_name == name && s.stack_status != "DELETE_COMPLETE")
        else {
            return Ok(None);
        };
        self.get_stack(name, &found.id).await
    }

    async fn get_stack(&self, name: &str, id: &str) -> Result<Option<Stack>> {
        match self
            .session
            .send_json::<StackResponse>(&self.request(Method::GET, format!("/stacks/{name}/{id}")))
            .await
        {
            Ok(r) => Ok(Some(r.stack)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the stack of `request.stack_name` unless one of that name
    /// exists (names are unique in a project, so a retry finds it), then
    /// waits for `CREATE_COMPLETE`; `CREATE_FAILED` fails with Heat's
    /// reason.
    pub async fn ensure_stack(&self, request: &StackCreateRequest) -> Result<Stack> {
        let name = &request.stack_name;
        let retry = self.session.options().retry.clone();
        let mut attempt = 0;
        let id = loop {
            attempt += 1;
            if let Some(s) = self.find_stack(name).await? {
                break s.id;
            }
            match self
                .session
                .send_json::<StackCreateResponse>(
                    &self.request(Method::POST, "/stacks").json(request),
                )
                .await
            {
                Ok(r) => {
                    tracing::info!(stack = %name, id = %r.stack.id, "stack create requested");
                    break r.stack.id;
                }
                // Heat refuses a second stack of the same name (409): a
                // create whose answer was lost. Look it up.
                Err(e)
                    if (e.is_transient() || e.status() == Some(409))
                        && attempt < retry.max_attempts =>
                {
                    tokio::time::sleep(retry.backoff(attempt)).await
                }
                Err(e) => return Err(e),
            }
        };
        self.wait_stack(name, &id, "CREATE_COMPLETE").await
    }

    /// Waits until the stack reaches `status`; a `*_FAILED` status fails
    /// with Heat's reason.
    pub async fn wait_stack(&self, name: &str, id: &str, status: &str) -> Result<Stack> {
        let what = format!("stack {name} to reach {status}");
        poll(&self.wait, &what, || async {
            let s = self.get_stack(name, id).await?.ok_or_else(|| {
                OpenStackError::ResourceFailed(format!("stack {name} ({id}) disappeared"))
            })?;
            if s.stack_status.ends_with("_FAILED") {
                return Err(OpenStackError::ResourceFailed(format!(
                    "stack {name} is {}: {}",
                    s.stack_status,
                    s.stack_status_reason
                        .as_deref()
                        .unwrap_or("no reason given")
                )));
            }
            let seen = s.stack_status.clone();
            Ok(((s.stack_status == status).then_some(s), seen))
        })
        .await
    }

    /// The stack's outputs, key to value; an output Heat could not resolve
    /// is an error naming it.
    pub fn outputs(stack: &Stack) -> Result<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        for o in &stack.outputs {
            if let Some(err) = &o.output_error {
                return Err(OpenStackError::ResourceFailed(format!(
                    "stack {} output {}: {err}",
                    stack.stack_name, o.output_key
                )));
            }
            out.insert(
                o.output_key.clone(),
                o.output_value.clone().unwrap_or(Value::Null),
            );
        }
        Ok(out)
    }

    /// Deletes the stack named `name` and waits until it is gone. Absent
    /// is success.
    pub async fn delete_stack(&self, name: &str) -> Result<()> {
        let Some(s) = self.find_stack(name).await? else {
            return Ok(());
        };
        if s.stack_status != "DELETE_IN_PROGRESS" {
            match self
                .session
                .send(&self.request(Method::DELETE, format!("/stacks/{name}/{}", s.id)))
                .await
            {
                Ok(_) => tracing::info!(stack = %name, "stack delete requested"),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let what = format!("stack {name} to be deleted");
        poll(&self.wait, &what, || async {
            match self.get_stack(name, &s.id).await? {
                None => Ok((Some(()), "gone".into())),
                Some(s) if s.stack_status == "DELETE_COMPLETE" => Ok((Some(()), "gone".into())),
                Some(s) if s.stack_status == "DELETE_FAILED" => {
                    Err(OpenStackError::ResourceFailed(format!(
                        "stack {name} is DELETE_FAILED: {}",
                        s.stack_status_reason
                            .as_deref()
                            .unwrap_or("no reason given")
                    )))
                }
                Some(s) => Ok((None, s.stack_status)),
            }
        })
        .await
    }
}
