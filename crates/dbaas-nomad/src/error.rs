//! Why a Nomad call failed, said so that the reader knows what to do next.

/// An error from the Nomad client. Every message names the call that
/// failed; none contains the ACL token.
#[derive(Debug, thiserror::Error)]
pub enum NomadError {
    /// The client could not be configured (bad address, unreadable or
    /// invalid TLS file).
    #[error("Nomad client configuration: {0}")]
    Config(String),

    /// No answer: connection refused, reset, TLS failure or timeout, on
    /// every attempt.
    #[error(
        "could not reach Nomad at {address} for {method} {path} after {attempts} attempt(s): {detail}; \
         check NOMAD_ADDR and that a Nomad agent is listening there (and NOMAD_CACERT for https)"
    )]
    Transport {
        /// The Nomad address used.
        address: String,
        /// HTTP method.
        method: String,
        /// Request path (no query: it may identify tenants).
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The transport error, with its causes.
        detail: String,
    },

    /// Nomad refused the request (4xx): retrying it unchanged will not help.
    #[error("Nomad rejected {method} {path} with {status}: {message}; {}", api_hint(*status))]
    Api {
        /// HTTP status.
        status: u16,
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// Nomad's own explanation (the response body).
        message: String,
    },

    /// A check-and-set registration lost: the job changed since the index
    /// given. Nomad reports this as a plain RPC error, so it is recognised
    /// by its text, whatever the status.
    #[error(
        "Nomad refused {method} {path}: the job was changed by someone else since it was read ({message}); \
         read the job again and decide whether to re-apply the change"
    )]
    CheckAndSetConflict {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// Nomad's message.
        message: String,
    },

    /// Nomad kept failing (5xx) on every attempt.
    #[error(
        "Nomad failed {method} {path} with {status} after {attempts} attempt(s): {message}; \
         the Nomad servers may have lost their leader or be overloaded: check `nomad server members` and retry later"
    )]
    Server {
        /// HTTP status of the last attempt.
        status: u16,
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// Nomad's message from the last attempt.
        message: String,
    },

    /// Nomad answered 2xx with a body this crate could not read.
    #[error(
        "could not read Nomad's answer to {method} {path} as {what}: {detail}; \
         this Nomad version may answer in a form dbaas-nomad does not know"
    )]
    Decode {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// The type expected.
        what: &'static str,
        /// The decoder's error.
        detail: String,
    },
}

impl NomadError {
    /// The HTTP status Nomad answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            NomadError::Api { status, .. } | NomadError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the error is Nomad saying the thing does not exist (404):
    /// callers doing idempotent deletes or lookups treat it as "absent".
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the error is a check-and-set write that lost (409 for
    /// variables; a job registration's conflict is
    /// [`NomadError::CheckAndSetConflict`]).
    pub fn is_conflict(&self) -> bool {
        matches!(self, NomadError::CheckAndSetConflict { .. }) || self.status() == Some(409)
    }
}

fn api_hint(status: u16) -> &'static str {
    match status {
        400 => "fix the request as Nomad says",
        401 | 403 => "check that NOMAD_TOKEN is set and its ACL policy grants this operation in this namespace",
        404 => "it does not exist (check the ID, NOMAD_NAMESPACE and NOMAD_REGION)",
        409 => "it conflicts with the current state: read it again",
        _ => "Nomad will refuse it again unless the request changes",
    }
}
