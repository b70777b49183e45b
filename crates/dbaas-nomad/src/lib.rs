//! A typed client of the Nomad HTTP API, written for dbaas's Nomad engine
//! runtime: it registers database engines as Nomad jobs (with
//! check-and-set, so concurrent changes are detected rather than
//! overwritten), plans and stops them, dispatches parameterized jobs
//! idempotently, follows allocations, evaluations and deployments with
//! blocking queries, and reads task logs for error messages.
//!
//! It speaks the JSON job form, not HCL: dbaas builds jobs as typed values
//! ([`Job`]) and only sends operator-written HCL whole to Nomad's own parser
//! ([`NomadClient::parse_job`]). Configuration follows the `nomad` CLI's
//! environment variables ([`NomadConfig::from_env`]). The types are proven
//! against the samples published in Nomad's API documentation
//! (`tests/contracts/`), including their quirks: a key written twice,
//! durations as numbers or strings, nanosecond timestamps beyond 2^53, and
//! fields newer than this crate.
//!
//! TLS uses rustls without a default crypto provider: the process installs
//! one (ring) before building a client, as `dbaas` does in `main`.

// Every public item is documented; the compiler keeps it so.
#![warn(missing_docs)]

mod api;
mod client;
mod error;
mod job;
mod serde_util;

pub use api::*;
pub use client::{
    LogStream, NomadClient, NomadConfig, QueryMeta, QueryOptions, QueryResponse, Result,
    RetryPolicy, DEFAULT_ADDRESS, TOKEN_HEADER,
};
pub use error::NomadError;
pub use job::*;
pub use serde_util::{from_json_slice, parse_duration_nanos};
