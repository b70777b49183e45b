use async_trait::async_trait;
use dbaas_drivers::{AddressDriver, DriverError, Result};
use dbaas_model::Endpoint;
use dbaas_store::Store;
use ipnet::Ipv4Net;

/// Loopback addresses handed out as floating IPs. Every database gets an
/// address of its own and the engine's usual port, as a floating IP would
/// give it; allocations live in the state store.
pub struct LocalAddresses {
    store: Store,
    pool: Ipv4Net,
    port: u16,
}

impl LocalAddresses {
    /// `pool` must lie in 127.0.0.0/8, which always reaches this host.
    pub fn new(store: Store, pool: Ipv4Net, port: u16) -> std::result::Result<Self, String> {
        if !pool.addr().is_loopback() || pool.prefix_len() < 8 {
            return Err(format!(
                "the local address pool {pool} must lie inside 127.0.0.0/8, e.g. 127.77.0.0/24"
            ));
        }
        Ok(LocalAddresses { store, pool, port })
    }

    fn candidates(&self) -> impl Iterator<Item = String> + '_ {
        self.pool.hosts().map(move |h| format!("{h}:{}", self.port))
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
        let addr = self.store.allocate_address(owner, self.candidates()).map_err(|e| match e {
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
            .map_err(store_err)?
            .map(|a| parse(&a))
            .transpose()
    }

    async fn release(&self, owner: &str) -> Result<()> {
        self.store.release_address(owner).map_err(store_err)
    }

    async fn list(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .list_addresses()
            .map_err(store_err)?
            .into_iter()
            .map(|(_, owner)| owner)
            .collect())
    }
}
