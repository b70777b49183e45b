//! The dbaas domain model: what a database, an operation and a SQL job are,
//! the shapes of API requests and responses, the validation rules applied at
//! the edge, and the one public error type.
//!
//! Every other crate speaks in these types. Nothing here does I/O, so the
//! rules can be checked the same way by the API server, the CLI and tests.

pub mod error;
pub mod resources;
pub mod validate;

pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetail};
pub use resources::*;
pub use validate::*;
