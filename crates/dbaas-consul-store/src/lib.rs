//! The control plane's state kept in Consul's KV store, and the election
//! of the one agent that may write it, for running several agents of one
//! cluster against one Consul.
//!
//! - [`ConsulStore`] implements `dbaas-store`'s [`StateStore`] over Consul
//!   KV under `<prefix>/<cluster>/` ([`Keys`]). Every write is one Consul
//!   transaction of check-and-set operations (no lost update: a
//!   read-modify-write re-reads and re-applies on conflict) opened by the
//!   writer's fence, so only the current leader's writes apply.
//! - [`LeaderElection`] keeps a Consul session with a TTL and lock-delay,
//!   holds the leader lock when it can, bumps the generation on winning,
//!   and publishes the agent's [`Role`] on a `tokio::sync::watch` channel
//!   (leader with its [`Fence`], or follower with the leader's address).
//!
//! Both take a [`dbaas_consul::ConsulClient`], configured from the
//! `CONSUL_*` environment (`ConsulClient::from_env`) or a
//! [`dbaas_consul::ConsulConfig`].
//!
//! [`StateStore`]: dbaas_store::StateStore

mod election;
mod keys;
mod role;
mod store;

pub use election::{ElectionConfig, LeaderElection};
pub use keys::Keys;
pub use role::{Fence, LeaderInfo, Role};
pub use store::{ConsulStore, DEFAULT_MAX_ATTEMPTS, MAX_VALUE_BYTES};
