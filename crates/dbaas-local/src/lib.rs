//! The embedded drivers behind `dbaas agent --dev`: one machine, no cloud.
//!
//! * a volume is a directory under `<data-dir>/volumes`;
//! * a floating address is a loopback address from a pool (all of
//!   127.0.0.0/8 reaches this host), allocated in the state store;
//! * an engine is a real PostgreSQL server started with `pg_ctl`, in its
//!   own process group so that it outlives a crash of the agent and is
//!   adopted, not duplicated, when the agent comes back.
//!
//! They implement the same traits as the production drivers, so the
//! workflows cannot tell them apart.

mod addresses;
mod runtime;
mod volumes;

pub use addresses::LocalAddresses;
pub use runtime::{LocalRuntime, LocalRuntimeConfig};
pub use volumes::LocalVolumes;

/// A stable 64-bit FNV-1a hash, for short deterministic names (the hash in
/// std is not guaranteed stable across releases).
pub(crate) fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
