//! Where the control plane's state lives, and whether this agent may act
//! on it.
//!
//! Without a `consul { }` block the state is the agent's own redb file and
//! the agent always leads. With one, the state is Consul's KV store
//! (`dbaas-consul-store`), shared by the agents of a cluster, which elect
//! one leader: it alone runs operations and the supervisor, and its writes
//! carry its fence, so a deposed leader's writes are refused.

use std::sync::Arc;
use std::time::Duration;

use dbaas_consul_store::{ConsulStore, ElectionConfig, Fence, Keys, LeaderElection, Role};
use dbaas_store::StateStore;
use tokio::sync::watch;

/// The state store and this agent's role in its cluster.
pub struct State {
    pub store: Arc<dyn StateStore>,
    /// The role, updated on every change of leadership.
    pub role: watch::Receiver<Role>,
    /// The election this agent takes part in (with `consul { }`); kept
    /// alive as long as the agent runs.
    pub election: Option<LeaderElection>,
}

/// The role of an agent that is alone with its state: it always leads,
/// in one generation.
pub fn sole_leader() -> watch::Receiver<Role> {
    let (tx, rx) = watch::channel(Role::Leader(Fence {
        generation: 1,
        generation_index: 0,
        session: String::new(),
    }));
    // The sender is dropped: the role never changes.
    drop(tx);
    rx
}

/// The Consul connection of a `consul` block: the `CONSUL_*` environment
/// (from `lookup`) with the block's settings over it.
pub(crate) fn consul_client_config(
    block: &dbaas_config::ConsulConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<dbaas_consul::ConsulConfig, String> {
    let mut c = dbaas_consul::ConsulConfig::from_lookup(lookup)
        .map_err(|e| format!("the Consul connection: {e}"))?;
    if let Some(a) = &block.address {
        c.address = dbaas_consul::parse_address(a, false)
            .map_err(|e| format!("consul.address = {a:?}: {e}"))?;
    }
    if let Some(t) = &block.token {
        c.token = Some(t.clone());
    }
    if let Some(ca) = &block.ca_cert {
        c.ca_cert = Some(ca.clone());
    }
    if let Some(n) = &block.namespace {
        c.namespace = Some(n.clone());
    }
    if let Some(d) = &block.datacenter {
        c.datacenter = Some(d.clone());
    }
    Ok(c)
}

/// Opens the state the configuration names. `listening` is the address
/// the agent's API is bound to (what followers name for the leader unless
/// `consul.advertise` says otherwise). With a `consul` block this starts
/// campaigning at once; the role starts as a follower.
pub fn open(cfg: &dbaas_config::AgentConfig, listening: &str) -> Result<State, String> {
    let Some(block) = &cfg.consul else {
        let store = dbaas_store::Store::open(&cfg.data_dir.join("state.redb"))
            .map_err(|e| e.to_string())?;
        return Ok(State {
            store: Arc::new(store),
            role: sole_leader(),
            election: None,
        });
    };
    let connection = consul_client_config(block, |k| std::env::var(k).ok())?;
    let address = connection.address.to_string();
    let client = dbaas_consul::ConsulClient::new(connection)
        .map_err(|e| format!("the Consul connection ({address}): {e}"))?;
    let keys = Keys::new(&block.prefix, &block.cluster).map_err(|e| format!("consul: {e}"))?;
    let id = block.agent_id.clone().unwrap_or_else(default_agent_id);
    let advertise = block
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{listening}"));
    let mut election = ElectionConfig::new(id.clone(), advertise.clone());
    election.session_ttl = Duration::from_secs(block.session_ttl_seconds);
    election.lock_delay = Duration::from_secs(block.lock_delay_seconds);
    election.renew_interval = election.session_ttl / 3;
    election.watch_wait =
        Duration::from_secs(30).min(election.session_ttl.max(Duration::from_secs(1)));
    election.retry_interval = Duration::from_secs(1).min(election.session_ttl / 3);
    tracing::info!(consul = %address, keys = keys.root(), agent = %id, advertise = %advertise, "state in Consul; campaigning for leadership");
    let election = LeaderElection::start(client.clone(), keys.clone(), election);
    let role = election.role();
    let store = ConsulStore::new(client, keys, role.clone());
    Ok(State {
        store: Arc::new(store),
        role,
        election: Some(election),
    })
}

/// The host name and a random suffix: unique among the cluster's agents,
/// and new at each start (a restarted agent campaigns afresh).
fn default_agent_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    if host.is_empty() {
        format!("agent-{suffix}")
    } else {
        format!("{host}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consul_block_wins_over_the_environment() {
        let env = |k: &str| match k {
            "CONSUL_HTTP_ADDR" => Some("consul.env:8500".to_string()),
            "CONSUL_HTTP_TOKEN" => Some("env-token".to_string()),
            "CONSUL_CACERT" => Some("/env/ca.pem".to_string()),
            _ => None,
        };
        let block: dbaas_config::ConsulConfig =
            dbaas_config::AgentConfig::parse("data_dir = \"/x\"\nconsul {\n}\n")
                .unwrap()
                .consul
                .unwrap();
        let c = consul_client_config(&block, env).unwrap();
        assert_eq!(c.address.as_str(), "http://consul.env:8500/");
        assert_eq!(c.token.as_deref(), Some("env-token"));
        assert_eq!(c.ca_cert, Some("/env/ca.pem".into()));

        let block = dbaas_config::AgentConfig::parse(
            "data_dir = \"/x\"\nconsul {\n  address = \"https://consul.block:8501\"\n  token = \"block-token\"\n  ca_cert = \"/block/ca.pem\"\n}\n",
        )
        .unwrap()
        .consul
        .unwrap();
        let c = consul_client_config(&block, env).unwrap();
        assert_eq!(c.address.as_str(), "https://consul.block:8501/");
        assert_eq!(c.token.as_deref(), Some("block-token"));
        assert_eq!(c.ca_cert, Some("/block/ca.pem".into()));
    }

    #[test]
    fn an_agent_alone_always_leads() {
        let role = sole_leader();
        assert!(role.borrow().is_leader());
        assert_eq!(role.borrow().generation(), Some(1));
    }
}
