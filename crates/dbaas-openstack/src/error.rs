//! The one error type of this crate.

use std::time::Duration;

/// What went wrong talking to OpenStack, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum OpenStackError {
    /// The configuration (clouds.yaml or `OS_*` variables) is missing or
    /// incomplete.
    #[error("OpenStack configuration: {0}")]
    Config(String),
    /// Keystone refused the credentials or answered without a token.
    #[error("authentication at {url} failed: {message}")]
    Auth {
        /// The Keystone URL used.
        url: String,
        /// Why.
        message: String,
    },
    /// The catalog has no endpoint for the service asked for.
    #[error("no {interface} endpoint for service type {service_type:?}{} in the catalog", region.as_ref().map(|r| format!(" in region {r:?}")).unwrap_or_default())]
    NoEndpoint {
        /// The service type asked for.
        service_type: String,
        /// The interface asked for.
        interface: String,
        /// The region asked for.
        region: Option<String>,
    },
    /// The service answered with an error status.
    #[error("{method} {url}: HTTP {status}: {message}")]
    Http {
        /// The request method.
        method: String,
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// The service's own message, or the start of the body.
        message: String,
    },
    /// The request did not get an answer (connection refused, reset,
    /// timed out), after the retries allowed.
    #[error("{method} {url}: {source}")]
    Transport {
        /// The request method.
        method: String,
        /// The request URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// An answer that is not what the API documents.
    #[error("{url}: unexpected answer: {message}")]
    Decode {
        /// The request URL.
        url: String,
        /// What did not fit.
        message: String,
    },
    /// A resource reached a failure state (a volume in `error`, ...).
    #[error("{0}")]
    ResourceFailed(String),
    /// A wait did not see the state it waited for in time.
    #[error("{what}: still not done after {after:?} (last seen: {last})")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
        /// The last state seen.
        last: String,
    },
}

impl OpenStackError {
    /// The HTTP status, when the service answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            OpenStackError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the service said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether trying again later may succeed: no answer, a 5xx, or 429.
    /// A create that failed so may still have been applied: look up before
    /// creating again.
    pub fn is_transient(&self) -> bool {
        match self {
            OpenStackError::Transport { .. } => true,
            OpenStackError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, OpenStackError>;

/// The message OpenStack services put in an error body: Cinder writes
/// `{"badRequest": {"message": ..}}`, Neutron `{"NeutronError": {"message": ..}}`,
/// Keystone `{"error": {"message": ..}}`, Heat `{"error": {"message": ..}}`
/// or `{"explanation": ..}`. Falls back to the start of the body.
pub(crate) fn error_message(body: &str) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(body) {
        for (_, v) in map.iter() {
            if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
                return m.to_string();
            }
        }
        for key in ["message", "explanation", "title"] {
            if let Some(m) = map.get(key).and_then(|m| m.as_str()) {
                return m.to_string();
            }
        }
    }
    let trimmed = body.trim();
    trimmed.chars().take(300).collect()
}
