//! The Nomad simulator these tests run against (shared with the
//! end-to-end tests of the agent).

pub use dbaas_nomad_sim::*;
