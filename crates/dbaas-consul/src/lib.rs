//! A typed client of the Consul HTTP API, written for dbaas's control plane,
//! which keeps its state in Consul's KV store and elects a leader among
//! several agents with Consul sessions and locks. It covers what that needs
//! and no more: KV reads, writes with check-and-set and lock
//! acquire/release, transactions, sessions, service health and catalog
//! lookups, and blocking queries (with a key watcher that follows Consul's
//! documented client rules). It is configured from the same `CONSUL_*`
//! environment variables as the `consul` CLI, retries transport errors and
//! 5xx answers with exponential backoff, and reports failures as
//! [`ConsulError`], whose messages say what to check.
//!
//! The types follow the published API samples (checked by the contract
//! tests in `tests/contracts.rs`): Consul's casing, unknown fields
//! tolerated, `null` lists read as empty, KV values as bytes and durations
//! as [`std::time::Duration`] whichever way Consul spells them.
//!
//! The HTTP client uses rustls without a default crypto provider: the
//! process must install one first (`dbaas_client::install_crypto_provider`).

mod client;
mod config;
pub mod duration;
mod error;
mod types;
mod watch;

pub use client::{
    Consistency, ConsulClient, KvDeleteOptions, KvPutOptions, QueryMeta, QueryOptions,
};
pub use config::{parse_address, ConsulConfig, RetryPolicy, DEFAULT_ADDRESS};
pub use error::ConsulError;
pub use types::*;
pub use watch::KeyWatcher;
