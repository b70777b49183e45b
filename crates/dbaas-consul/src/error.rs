//! The one error type of the crate. Each message names what failed and
//! what the operator can do about it.

use crate::types::TxnError;

/// Everything that can go wrong talking to Consul.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// The client configuration (environment or code) is unusable.
    #[error("invalid Consul client configuration: {setting}: {detail}")]
    Config {
        /// The setting at fault, e.g. `CONSUL_HTTP_ADDR`.
        setting: String,
        /// What is wrong and how to fix it.
        detail: String,
    },

    /// Consul could not be reached (connect error, timeout, broken
    /// connection), after every retry.
    #[error(
        "could not reach Consul for {method} {path} after {attempts} attempt(s): {detail}; \
         check that a Consul agent listens at {address} (CONSUL_HTTP_ADDR)"
    )]
    Transport {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// The agent's address.
        address: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last transport error.
        detail: String,
    },

    /// Consul answered with an error status (a 4xx at once, a 5xx after
    /// every retry). `message` is Consul's own text.
    #[error("Consul refused {method} {path}: HTTP {status}: {message}{}", hint(*.status))]
    Status {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status code.
        status: u16,
        /// The body Consul sent (its error text).
        message: String,
    },

    /// A transaction was rolled back (HTTP 409); nothing was applied.
    #[error("Consul transaction rolled back, nothing applied: {}", describe_txn_errors(.0))]
    TxnRolledBack(Vec<TxnError>),

    /// Consul's answer did not have the expected shape.
    #[error(
        "unexpected answer from Consul for {what}: {detail}; is CONSUL_HTTP_ADDR a Consul agent?"
    )]
    Decode {
        /// What was being decoded.
        what: String,
        /// The decoder's complaint.
        detail: String,
    },
}

impl ConsulError {
    /// The HTTP status, for an error Consul answered with.
    pub fn status(&self) -> Option<u16> {
        match self {
            ConsulError::Status { status, .. } => Some(*status),
            ConsulError::TxnRolledBack(_) => Some(409),
            _ => None,
        }
    }

    /// Whether retrying later might succeed (Consul unreachable or failing
    /// server-side), as opposed to a request that is wrong as written.
    pub fn is_transient(&self) -> bool {
        match self {
            ConsulError::Transport { .. } => true,
            ConsulError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "; check CONSUL_HTTP_TOKEN: the token is missing or lacks the ACL policy",
        404 => "; the path or object does not exist (wrong CONSUL_NAMESPACE or datacenter?)",
        429 => "; Consul is rate limiting this client, retry later",
        s if s >= 500 => {
            "; Consul failed server-side (no leader? check `consul operator raft list-peers`)"
        }
        _ => "",
    }
}

fn describe_txn_errors(errors: &[TxnError]) -> String {
    if errors.is_empty() {
        return "no reason given".to_string();
    }
    errors
        .iter()
        .map(|e| format!("operation #{}: {}", e.op_index, e.what))
        .collect::<Vec<_>>()
        .join("; ")
}
