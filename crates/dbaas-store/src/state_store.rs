//! The state store as an interface, so the control plane can keep its state
//! in the embedded redb file (one agent) or in Consul (several agents, one
//! leader) without knowing which.

use async_trait::async_trait;
use dbaas_model::{DatabaseRecord, OperationRecord, SqlOutput};

use crate::{Result, Store};

/// What the control plane needs from its durable state: the methods of the
/// embedded [`Store`], with the same meaning and the same [`StoreError`]
/// kinds, whatever holds the data.
///
/// The methods are async because a networked store (Consul) answers over
/// HTTP: a synchronous interface would have to block a runtime thread on
/// every call, or nest runtimes. The embedded store answers at once (its
/// transactions are local and short), so its implementation simply calls
/// the inherent methods.
///
/// Two signatures differ from the inherent methods, to keep the trait
/// object-safe and to allow check-and-set retries:
/// - `update_database` takes `&mut dyn FnMut`: a store that detects a
///   concurrent write re-reads the record and applies the closure again to
///   the fresh value, so the closure must derive its change only from the
///   record it is given (it may run more than once; the last run is the one
///   stored).
/// - `allocate_address` takes the candidates as `&mut dyn Iterator`.
///
/// Writes of a replicated store may also fail with
/// [`StoreError::Fenced`] (this agent is no longer the leader) or
/// [`StoreError::Contended`] (others kept winning the check-and-set);
/// nothing was written in either case.
///
/// [`StoreError`]: crate::StoreError
/// [`StoreError::Fenced`]: crate::StoreError::Fenced
/// [`StoreError::Contended`]: crate::StoreError::Contended
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Reserves the database's name and records the operation that creates
    /// it, atomically: of two concurrent creates of one name exactly one
    /// succeeds, the other gets [`crate::StoreError::AlreadyExists`] and
    /// records nothing.
    async fn insert_database_with_operation(
        &self,
        db: &DatabaseRecord,
        op: &OperationRecord,
    ) -> Result<()>;

    /// The record of the database `name`, if any.
    async fn get_database(&self, name: &str) -> Result<Option<DatabaseRecord>>;

    /// Writes the record (creates or replaces).
    async fn put_database(&self, db: &DatabaseRecord) -> Result<()>;

    /// Applies `f` to the current record of `name` and stores the result
    /// without losing a concurrent update. Returns the stored record, or
    /// `None` (and writes nothing) when there is no such database.
    async fn update_database(
        &self,
        name: &str,
        f: &mut (dyn for<'r> FnMut(&'r mut DatabaseRecord) + Send),
    ) -> Result<Option<DatabaseRecord>>;

    /// Removes the record of `name` if its id is `id`; a record made by a
    /// later create of the same name is left alone. Absent is not an error.
    async fn remove_database(&self, name: &str, id: &str) -> Result<()>;

    /// All databases, ordered by name.
    async fn list_databases(&self) -> Result<Vec<DatabaseRecord>>;

    /// The operation `id`, if any.
    async fn get_operation(&self, id: &str) -> Result<Option<OperationRecord>>;

    /// Writes the operation (creates or replaces).
    async fn put_operation(&self, op: &OperationRecord) -> Result<()>;

    /// All operations, oldest first (then by id).
    async fn list_operations(&self) -> Result<Vec<OperationRecord>>;

    /// Allocates the first free candidate address to `owner`; when `owner`
    /// already holds one, returns it. An address is never held by two
    /// owners. [`crate::StoreError::PoolExhausted`] when every candidate is
    /// taken.
    async fn allocate_address(
        &self,
        owner: &str,
        candidates: &mut (dyn Iterator<Item = String> + Send),
    ) -> Result<String>;

    /// The address held by `owner`, if any.
    async fn address_of(&self, owner: &str) -> Result<Option<String>>;

    /// Releases whatever `owner` holds; releasing nothing is not an error.
    async fn release_address(&self, owner: &str) -> Result<()>;

    /// All allocations as (address, owner), ordered by address.
    async fn list_addresses(&self) -> Result<Vec<(String, String)>>;

    /// Stores the output of the SQL job `job_id`.
    async fn put_sql_output(&self, job_id: &str, out: &SqlOutput) -> Result<()>;

    /// The output of the SQL job `job_id`, if stored.
    async fn get_sql_output(&self, job_id: &str) -> Result<Option<SqlOutput>>;
}

/// The embedded store: each method is the inherent method of the same name
/// (a committed redb transaction, durable when it returns).
#[async_trait]
impl StateStore for Store {
    async fn insert_database_with_operation(
        &self,
        db: &DatabaseRecord,
        op: &OperationRecord,
    ) -> Result<()> {
        Store::insert_database_with_operation(self, db, op)
    }

    async fn get_database(&self, name: &str) -> Result<Option<DatabaseRecord>> {
        Store::get_database(self, name)
    }

    async fn put_database(&self, db: &DatabaseRecord) -> Result<()> {
        Store::put_database(self, db)
    }

    async fn update_database(
        &self,
        name: &str,
        f: &mut (dyn for<'r> FnMut(&'r mut DatabaseRecord) + Send),
    ) -> Result<Option<DatabaseRecord>> {
        Store::update_database(self, name, f)
    }

    async fn remove_database(&self, name: &str, id: &str) -> Result<()> {
        Store::remove_database(self, name, id)
    }

    async fn list_databases(&self) -> Result<Vec<DatabaseRecord>> {
        Store::list_databases(self)
    }

    async fn get_operation(&self, id: &str) -> Result<Option<OperationRecord>> {
        Store::get_operation(self, id)
    }

    async fn put_operation(&self, op: &OperationRecord) -> Result<()> {
        Store::put_operation(self, op)
    }

    async fn list_operations(&self) -> Result<Vec<OperationRecord>> {
        Store::list_operations(self)
    }

    async fn allocate_address(
        &self,
        owner: &str,
        candidates: &mut (dyn Iterator<Item = String> + Send),
    ) -> Result<String> {
        Store::allocate_address(self, owner, candidates)
    }

    async fn address_of(&self, owner: &str) -> Result<Option<String>> {
        Store::address_of(self, owner)
    }

    async fn release_address(&self, owner: &str) -> Result<()> {
        Store::release_address(self, owner)
    }

    async fn list_addresses(&self) -> Result<Vec<(String, String)>> {
        Store::list_addresses(self)
    }

    async fn put_sql_output(&self, job_id: &str, out: &SqlOutput) -> Result<()> {
        Store::put_sql_output(self, job_id, out)
    }

    async fn get_sql_output(&self, job_id: &str) -> Result<Option<SqlOutput>> {
        Store::get_sql_output(self, job_id)
    }
}
