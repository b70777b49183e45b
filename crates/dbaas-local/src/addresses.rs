use async_trait::async_trait;
use dbaas_drivers::{AddressDriver, DriverError, Result};
use dbaas_model::Endpoint;
use std::sync::Arc;

use dbaas_store::StateStore;
use ipnet::Ipv4Net;

/// Loopback addresses handed out as floating IPs. Every database gets an
/// address of its own and the engine's usual port, as a floating IP would
/// give it; allocations live in the state store — the agent's own (the
/// same handle as the control plane's: the redb file is opened once), so
/// with several agents on one Consul a new leader sees the allocations of
/// the one before.
pub struct LocalAddresses {
    store: Arc<dyn StateStore>,
    pool: Ipv4Net,
    port: u16,
}

impl LocalAddresses {
    /// `pool` must lie in 127.0.0.0/8, which always reaches this host.
    pub fn new(
        store: Arc<dyn StateStore>,
        pool: Ipv4Net,
        port: u16,
    ) -> std::result::Result<Self, String> {
        if !pool.addr().is_loopback() || pool.prefix_len() < 8 {
            return Err(format!(
                "the local address pool {pool} must lie inside 127.0.0.0/8, e.g. 127.77.0.0/24"
            ));
        }
        Ok(LocalAddresses { store, pool, port })
    }

    fn candidates(&self) -> impl Iterator<Item = String> + Send + 'static {
        let port = self.port;
        self.pool.hosts().map(move |h| format!("{h}:{port}"))
    }
}

fn parse(addr: &str) -> Result<Endpoint> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| DriverError::new(format!("bad address record {addr:?}")))?;
    Ok(Endpoint {
        host: host.to_string(),
        port: port
            .parse()
            .map_err(|_| DriverError::new(format!("bad address record {addr:?}")))?,
    })
}

fn store_err(e: dbaas_store::StoreError) -> DriverError {
    DriverError::new(e.to_string())
}

#[async_trait]
impl AddressDriver for LocalAddresses {
    async fn ensure(&self, owner: &str) -> Result<Endpoint> {
        let addr = self.store.allocate_address(owner, &mut self.candidates()).await.map_err(|e| match e {
            dbaas_store::StoreError::PoolExhausted(n) => DriverError::new(format!(
                "every address of the local pool {} is in use ({n}); delete a database or widen local.address_pool",
                self.pool
            )),
            other => store_err(other),
        })?;
        parse(&addr)
    }

    async fn find(&self, owner: &str) -> Result<Option<Endpoint>> {
        self.store
            .address_of(owner)
            .await
            .map_err(store_err)?
            .map(|a| parse(&a))
            .transpose()
    }

    async fn release(&self, owner: &str) -> Result<()> {
        self.store.release_address(owner).await.map_err(store_err)
    }

    async fn list(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .list_addresses()
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|(_, owner)| owner)
            .collect())
    }
}
