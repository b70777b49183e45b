//! Heat (Orchestration v1) stack types: create, show, outputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cinder::Link;
use crate::serde_util::Timestamp;

/// `POST /v1/{project_id}/stacks` body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StackCreateRequest {
    /// Unique within the project.
    pub stack_name: String,
    /// The template, inline (HOT as a JSON value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    /// Where to fetch the template instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_url: Option<String>,
    /// Template parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, Value>>,
    /// Files the template refers to, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<BTreeMap<String, String>>,
    /// Environment (parameters, resource registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Value>,
    /// Keep what was made when creation fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_rollback: Option<bool>,
    /// Minutes before creation times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_mins: Option<u32>,
    /// Comma-separated tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
}

/// `POST /v1/{project_id}/stacks` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackCreateResponse {
    /// The new stack.
    pub stack: StackRef,
}

/// A stack's id and links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackRef {
    /// Its id.
    pub id: String,
    /// Links to it.
    #[serde(default)]
    pub links: Vec<Link>,
}

/// `GET /v1/{project_id}/stacks/{name}/{id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackResponse {
    /// The stack.
    pub stack: Stack,
}

/// A stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    /// Its id.
    pub id: String,
    /// Its name.
    pub stack_name: String,
    /// `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `CREATE_FAILED`, ...
    pub stack_status: String,
    /// Why it is in that status.
    #[serde(default)]
    pub stack_status_reason: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// The template's description.
    #[serde(default)]
    pub template_description: Option<String>,
    /// Created (Heat sometimes writes no zone).
    #[serde(default)]
    pub creation_time: Option<Timestamp>,
    /// Last updated.
    #[serde(default)]
    pub updated_time: Option<Timestamp>,
    /// Deleted.
    #[serde(default)]
    pub deletion_time: Option<Timestamp>,
    /// Whether failed creation is kept.
    #[serde(default)]
    pub disable_rollback: Option<bool>,
    /// Timeout in minutes.
    #[serde(default)]
    pub timeout_mins: Option<u32>,
    /// Outputs (values only once resolved).
    #[serde(default)]
    pub outputs: Vec<StackOutput>,
    /// Parameters, including Heat's own `OS::*` ones.
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    /// Tags (`null` when none).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Parent stack of a nested stack.
    #[serde(default)]
    pub parent: Option<String>,
    /// Owner user name.
    #[serde(default)]
    pub stack_owner: Option<String>,
    /// Project of the stack's own user.
    #[serde(default)]
    pub stack_user_project_id: Option<String>,
    /// Capabilities.
    #[serde(default)]
    pub capabilities: Vec<Value>,
    /// Notification topics.
    #[serde(default)]
    pub notification_topics: Vec<Value>,
    /// Links to it.
    #[serde(default)]
    pub links: Vec<Link>,
}

/// A stack output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackOutput {
    /// Its name.
    pub output_key: String,
    /// Its value, once resolved.
    #[serde(default)]
    pub output_value: Option<Value>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Why it could not be resolved.
    #[serde(default)]
    pub output_error: Option<String>,
}

/// `GET .../outputs` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackOutputList {
    /// The outputs (keys and descriptions).
    pub outputs: Vec<StackOutput>,
}

/// `GET .../outputs/{key}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackOutputResponse {
    /// The output.
    pub output: StackOutput,
}
