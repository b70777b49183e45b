//! Helpers shared by the test files (each includes this module).

#![allow(dead_code)]

use std::time::Duration;

use dbaas_consul_store::{ElectionConfig, Keys, LeaderElection, Role};
use tokio::sync::watch;

use dbaas_consul_sim::Sim;

/// A generous bound for "eventually": far above the TTLs and lock-delays
/// used here, so only a real failure hits it.
pub const EVENTUALLY: Duration = Duration::from_secs(30);

pub fn keys() -> Keys {
    Keys::new("dbaas", "test").unwrap()
}

/// Short TTL and lock-delay, so takeovers take a second or so.
pub fn config(id: &str) -> ElectionConfig {
    let mut c = ElectionConfig::new(id, format!("https://{id}.example:8080"));
    c.session_ttl = Duration::from_millis(600);
    c.renew_interval = Duration::from_millis(150);
    c.lock_delay = Duration::from_millis(300);
    c.watch_wait = Duration::from_secs(2);
    c.retry_interval = Duration::from_millis(50);
    c
}

pub fn elector(sim: &Sim, id: &str) -> LeaderElection {
    sim.set_min_ttl(Duration::from_millis(100));
    LeaderElection::start(sim.client(), keys(), config(id))
}

/// Waits until the role satisfies `ok`; panics after [`EVENTUALLY`].
pub async fn until(rx: &mut watch::Receiver<Role>, what: &str, ok: impl Fn(&Role) -> bool) -> Role {
    let got = match tokio::time::timeout(EVENTUALLY, rx.wait_for(|r| ok(r))).await {
        Ok(Ok(role)) => Some(role.clone()),
        Ok(Err(_)) => panic!("the election ended before: {what}"),
        Err(_) => None,
    };
    got.unwrap_or_else(|| panic!("timed out waiting for: {what} (role: {:?})", *rx.borrow()))
}

/// Records every role an elector takes, for checks over the whole run.
pub fn record_roles(mut rx: watch::Receiver<Role>) -> tokio::task::JoinHandle<Vec<Role>> {
    tokio::spawn(async move {
        let mut seen = vec![rx.borrow_and_update().clone()];
        while rx.changed().await.is_ok() {
            seen.push(rx.borrow_and_update().clone());
        }
        seen
    })
}
