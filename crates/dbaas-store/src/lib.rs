//! The agent's durable state, in one embedded redb file.
//!
//! Why redb: it is pure Rust (no C toolchain, fast to build), gives ACID
//! write transactions that are serialised (which is exactly what atomic name
//! reservation needs), crash-safe commits, and lock-free readers for the
//! API's hot paths. The agent needs keyed records, not ad-hoc queries, so a
//! key-value store with JSON values is enough; values stay readable with
//! any JSON tool when debugging.
//!
//! Every write is a committed transaction: when a function returns, the
//! change survives a kill -9 of the agent.

use std::path::Path;

use dbaas_model::{DatabaseRecord, OperationRecord, SqlOutput};
use redb::{Database, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

#[cfg(feature = "testing")]
pub mod contract;
mod state_store;

pub use state_store::StateStore;

const DATABASES: TableDefinition<&str, &[u8]> = TableDefinition::new("databases");
const OPERATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("operations");
/// Address allocations: "host:port" -> owner key.
const ADDRESSES: TableDefinition<&str, &str> = TableDefinition::new("addresses");
const SQL_OUTPUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("sql_outputs");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("no free address left in the pool ({0} in use)")]
    PoolExhausted(usize),
    #[error("state store: {0}")]
    Backend(String),
    /// A replicated store refused a write because this agent's leadership
    /// generation is no longer the current one (another agent leads now).
    /// Nothing was written.
    #[error("write refused, this agent no longer leads: {0}")]
    Fenced(String),
    /// A replicated store's check-and-set kept losing to concurrent writers
    /// of the same record. Nothing was written; retrying later may succeed.
    #[error("state store: {0}")]
    Contended(String),
}

macro_rules! backend_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Backend(e.to_string()) }
        }
    )*};
}
backend_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error
);

pub type Result<T> = std::result::Result<T, StoreError>;

/// Handle to the state store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: std::sync::Arc<Database>,
}

impl Store {
    /// Opens (or creates) the store at `path`. Fails when another agent
    /// holds the same file: two agents must never share a data dir.
    pub fn open(path: &Path) -> Result<Store> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Backend(format!(
                "{} is in use by another dbaas agent; stop it or choose another --data-dir",
                path.display()
            )),
            other => StoreError::Backend(other.to_string()),
        })?;
        let tx = db.begin_write()?;
        tx.open_table(DATABASES)?;
        tx.open_table(OPERATIONS)?;
        tx.open_table(ADDRESSES)?;
        tx.open_table(SQL_OUTPUTS)?;
        tx.commit()?;
        Ok(Store {
            db: std::sync::Arc::new(db),
        })
    }

    fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table)?;
        match t.get(key)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    fn put<T: Serialize>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(value)?;
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(table)?;
            t.insert(key, bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    fn all<T: DeserializeOwned>(&self, table: TableDefinition<&str, &[u8]>) -> Result<Vec<T>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// Reserves a database name and records the operation that creates it,
    /// in one transaction: of two concurrent creates of one name, exactly
    /// one succeeds.
    pub fn insert_database_with_operation(
        &self,
        db: &DatabaseRecord,
        op: &OperationRecord,
    ) -> Result<()> {
        let db_bytes = serde_json::to_vec(db)?;
        let op_bytes = serde_json::to_vec(op)?;
        let tx = self.db.begin_write()?;
        {
            let mut dbs = tx.open_table(DATABASES)?;
            if dbs.get(db.name.as_str())?.is_some() {
                return Err(StoreError::AlreadyExists(format!("database {:?}", db.name)));
            }
            dbs.insert(db.name.as_str(), db_bytes.as_slice())?;
            let mut ops = tx.open_table(OPERATIONS)?;
            ops.insert(op.op.id.as_str(), op_bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn get_database(&self, name: &str) -> Result<Option<DatabaseRecord>> {
        self.get(DATABASES, name)
    }

    pub fn put_database(&self, db: &DatabaseRecord) -> Result<()> {
        self.put(DATABASES, &db.name, db)
    }

    /// Applies `f` to the named record inside one write transaction, so
    /// concurrent updates of different fields do not overwrite each other.
    /// Returns the updated record, or None when there is none.
    pub fn update_database(
        &self,
        name: &str,
        f: impl FnOnce(&mut DatabaseRecord),
    ) -> Result<Option<DatabaseRecord>> {
        let tx = self.db.begin_write()?;
        let updated = {
            let mut t = tx.open_table(DATABASES)?;
            let current: Option<DatabaseRecord> = match t.get(name)? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            };
            match current {
                Some(mut rec) => {
                    f(&mut rec);
                    let bytes = serde_json::to_vec(&rec)?;
                    t.insert(name, bytes.as_slice())?;
                    Some(rec)
                }
                None => None,
            }
        };
        tx.commit()?;
        Ok(updated)
    }

    /// Removes the record of `name` if its id is `id`; a record made by a
    /// later create of the same name is left alone.
    pub fn remove_database(&self, name: &str, id: &str) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(DATABASES)?;
            let matches = match t.get(name)? {
                Some(v) => serde_json::from_slice::<DatabaseRecord>(v.value())?.id == id,
                None => false,
            };
            if matches {
                t.remove(name)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// All databases, ordered by name.
    pub fn list_databases(&self) -> Result<Vec<DatabaseRecord>> {
        self.all(DATABASES)
    }

    pub fn get_operation(&self, id: &str) -> Result<Option<OperationRecord>> {
        self.get(OPERATIONS, id)
    }

    pub fn put_operation(&self, op: &OperationRecord) -> Result<()> {
        self.put(OPERATIONS, &op.op.id, op)
    }

    /// All operations, oldest first.
    pub fn list_operations(&self) -> Result<Vec<OperationRecord>> {
        let mut ops: Vec<OperationRecord> = self.all(OPERATIONS)?;
        ops.sort_by(|a, b| {
            a.op.created_at
                .cmp(&b.op.created_at)
                .then(a.op.id.cmp(&b.op.id))
        });
        Ok(ops)
    }

    /// Allocates the first free candidate address to `owner`; when `owner`
    /// already holds one, returns it (idempotent).
    pub fn allocate_address(
        &self,
        owner: &str,
        candidates: impl Iterator<Item = String>,
    ) -> Result<String> {
        let tx = self.db.begin_write()?;
        let chosen = {
            let mut t = tx.open_table(ADDRESSES)?;
            let mut held = None;
            let mut used = std::collections::HashSet::new();
            for row in t.iter()? {
                let (k, v) = row?;
                if v.value() == owner {
                    held = Some(k.value().to_string());
                }
                used.insert(k.value().to_string());
            }
            match held {
                Some(a) => a,
                None => {
                    let count = used.len();
                    let a = candidates
                        .into_iter()
                        .find(|c| !used.contains(c))
                        .ok_or(StoreError::PoolExhausted(count))?;
                    t.insert(a.as_str(), owner)?;
                    a
                }
            }
        };
        tx.commit()?;
        Ok(chosen)
    }

    /// The address held by `owner`, if any.
    pub fn address_of(&self, owner: &str) -> Result<Option<String>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ADDRESSES)?;
        for row in t.iter()? {
            let (k, v) = row?;
            if v.value() == owner {
                return Ok(Some(k.value().to_string()));
            }
        }
        Ok(None)
    }

    /// Releases whatever `owner` holds; releasing nothing is not an error.
    pub fn release_address(&self, owner: &str) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(ADDRESSES)?;
            let mine: Vec<String> = t
                .iter()?
                .filter_map(|r| r.ok())
                .filter(|(_, v)| v.value() == owner)
                .map(|(k, _)| k.value().to_string())
                .collect();
            for k in mine {
                t.remove(k.as_str())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// All allocations as (address, owner).
    pub fn list_addresses(&self) -> Result<Vec<(String, String)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ADDRESSES)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_string(), v.value().to_string()));
        }
        Ok(out)
    }

    pub fn put_sql_output(&self, job_id: &str, out: &SqlOutput) -> Result<()> {
        self.put(SQL_OUTPUTS, job_id, out)
    }

    pub fn get_sql_output(&self, job_id: &str) -> Result<Option<SqlOutput>> {
        self.get(SQL_OUTPUTS, job_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbaas_model::*;

    fn record(name: &str, id: &str) -> DatabaseRecord {
        let now = chrono::Utc::now();
        DatabaseRecord {
            name: name.into(),
            id: id.into(),
            engine: "postgresql".into(),
            version: "15".into(),
            size_gb: 1,
            state: DatabaseState::Build,
            endpoint: None,
            owner_password: "x".into(),
            created_at: now,
            updated_at: now,
            error: None,
            created_by: "op".into(),
            backup_policy: None,
            last_scheduled_backup: None,
            last_scheduled_verify: None,
            host_pair: None,
        }
    }

    fn op(id: &str) -> OperationRecord {
        let now = chrono::Utc::now();
        OperationRecord {
            op: Operation {
                id: id.into(),
                kind: OperationKind::CreateDatabase,
                target: "a".into(),
                state: OperationState::Pending,
                steps: vec![],
                error: None,
                created_at: now,
                updated_at: now,
            },
            params: serde_json::Value::Null,
            outputs: Default::default(),
        }
    }

    #[test]
    fn a_name_is_reserved_once_even_under_concurrency() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = store.clone();
                std::thread::spawn(move || {
                    s.insert_database_with_operation(
                        &record("a", &format!("id{i}")),
                        &op(&format!("op{i}")),
                    )
                    .is_ok()
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|w| *w)
            .count();
        assert_eq!(wins, 1);
        // The losers left no operation behind.
        assert_eq!(store.list_operations().unwrap().len(), 1);
    }

    #[test]
    fn remove_only_removes_the_matching_incarnation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        store.put_database(&record("a", "new")).unwrap();
        store.remove_database("a", "old").unwrap();
        assert!(store.get_database("a").unwrap().is_some());
        store.remove_database("a", "new").unwrap();
        assert!(store.get_database("a").unwrap().is_none());
    }

    #[test]
    fn address_allocation_is_idempotent_and_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let pool = || ["h:1".to_string(), "h:2".to_string()].into_iter();
        let a = store.allocate_address("x", pool()).unwrap();
        assert_eq!(store.allocate_address("x", pool()).unwrap(), a);
        let b = store.allocate_address("y", pool()).unwrap();
        assert_ne!(a, b);
        assert!(matches!(
            store.allocate_address("z", pool()),
            Err(StoreError::PoolExhausted(2))
        ));
        store.release_address("x").unwrap();
        store.release_address("x").unwrap();
        assert_eq!(store.allocate_address("z", pool()).unwrap(), a);
    }

    #[test]
    fn a_second_agent_cannot_open_the_same_store() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(&dir.path().join("s.redb")).unwrap();
        let err = Store::open(&dir.path().join("s.redb"))
            .err()
            .expect("second open must fail");
        assert!(err.to_string().contains("another dbaas agent"), "{err}");
    }
}
