//! A thin typed client of the OpenStack services dbaas provisions from:
//! Keystone (tokens and the service catalog), Cinder (data volumes),
//! Neutron (floating IPs for client addresses) and Heat (stacks). It holds
//! the wire types, proven against the samples in each project's published
//! API reference (`tests/contracts/`), including their quirks: timestamps
//! without a time zone, `"tags": ["tag1,tag2"]` as one string, and fields
//! newer than this crate, which are ignored.
//!
//! # Why our own client
//!
//! `openstack_sdk` (0.22) covers every service, but it is built on reqwest
//! 0.13 (the workspace has 0.12), needs Rust 1.91, and brings about forty
//! crates of generated per-service API code: minutes of compile time on a
//! 2-core machine for the handful of calls dbaas makes. `osauth` (0.5) is
//! smaller and on reqwest 0.12, but defaults to native-tls, stops at
//! authentication and a session (no typed Cinder or Neutron operations, no
//! waiting for a status), and its retry behaviour is not ours to choose.
//! What dbaas needs is small: password and application credential tokens,
//! the catalog, and about ten REST calls; and it needs them idempotent
//! (look up before create) and bounded (retries, waits), which we would
//! write anyway. So this crate speaks JSON over the workspace's reqwest.
//!
//! # Pieces
//!
//! - [`CloudConfig`]: `clouds.yaml` (+ `secure.yaml`) or `OS_*` variables.
//! - [`Session`]: a cached token renewed near `expires_at`, endpoints
//!   from the catalog, bounded retries, one re-authentication on 401.
//! - [`BlockStorage`]: `ensure_volume` (found again by its `dbaas-db` and
//!   `dbaas-op` metadata), `extend_volume`, `delete_volume`.
//! - [`Networking`]: `ensure_floating_ip` / `release_floating_ip`, found
//!   again by tags or, after a crash before tagging, by description.
//! - [`CinderVolumes`] and [`NeutronFloatingIps`]: the `VolumeDriver` and
//!   `AddressDriver` of `dbaas-drivers` on top of those two, built from
//!   [`VolumeSettings`] and [`AddressSettings`] (serde, for the agent's
//!   configuration).
//! - [`Orchestration`]: Heat stacks created once per name, waited for
//!   within a bound, their outputs, template validation, deletion.
//! - [`keystone`], [`cinder`], [`neutron`], [`heat`]: the wire types.
//!
//! ```no_run
//! # async fn demo() -> dbaas_openstack::Result<()> {
//! use std::sync::Arc;
//! use dbaas_openstack::{BlockStorage, CloudConfig, Session};
//!
//! let session = Arc::new(Session::new(CloudConfig::from_env()?)?);
//! let cinder = BlockStorage::new(session);
//! let meta = [("dbaas-db", "orders-1a2b3c4d"), ("dbaas-op", "op-42")]
//!     .into_iter()
//!     .map(|(k, v)| (k.to_string(), v.to_string()))
//!     .collect();
//! let volume = cinder.ensure_volume("dbaas-orders-1a2b3c4d", 10, &meta).await?;
//! # let _ = volume; Ok(()) }
//! ```
//!
//! TLS uses rustls without a default crypto provider: the process installs
//! one (ring) before building a [`Session`], as `dbaas` does in `main`.
//!
//! The tests in `tests/real_cloud.rs` run against a real Keystone, Cinder
//! and Neutron on 127.0.0.1 that `scripts/openstack up` starts.

// Every public item is documented; the compiler keeps it so.
#![warn(missing_docs)]

mod block_storage;
pub mod cinder;
mod config;
mod drivers;
mod error;
pub mod heat;
pub mod keystone;
mod network;
pub mod neutron;
mod orchestration;
mod serde_util;
mod session;
#[cfg(feature = "testing")]
pub mod testing;

pub use block_storage::{BlockStorage, WaitOptions, METADATA_DB, METADATA_OP};
pub use config::{CloudConfig, ConfigSources, Credentials};
pub use drivers::{
    AddressSettings, CinderVolumes, NeutronFloatingIps, VolumeSettings, METADATA_MANAGED_BY,
    METADATA_ROLE,
};
pub use error::{OpenStackError, Result};
pub use network::{FloatingIpKey, Networking};
pub use orchestration::Orchestration;
pub use serde_util::{creation_order_unsettled, Secret, Timestamp, CREATION_ORDER_SETTLES_AFTER};
pub use session::{ApiRequest, ApiResponse, AuthToken, RetryPolicy, Session, SessionOptions};
