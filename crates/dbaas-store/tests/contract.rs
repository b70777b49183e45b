//! The embedded store passes the StateStore contract.

use std::sync::Arc;

use dbaas_store::{StateStore, Store};

async fn embedded() -> (Arc<dyn StateStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.redb")).unwrap();
    (Arc::new(store), dir)
}

dbaas_store::state_store_contract_tests!(embedded);
