//! [`StateStore`] over Consul KV.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use dbaas_consul::{ConsulClient, ConsulError, KvPair, KvVerb, QueryOptions, TxnKvOp, TxnOp};
use dbaas_model::{DatabaseRecord, OperationRecord, SqlOutput};
use dbaas_store::{Result, StateStore, StoreError};
use rand::Rng;
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::watch;

use crate::keys::{Keys, Kind};
use crate::role::Role;

/// Consul's default limit on one value (`kv_max_value_size`): larger
/// records are refused before they are sent.
pub const MAX_VALUE_BYTES: usize = 512 * 1024;

/// How many times a check-and-set is retried after losing to a concurrent
/// writer before [`StoreError::Contended`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 64;

/// The fence operations that open every write transaction.
const FENCE_OPS: usize = 2;

/// The state store in Consul KV (layout: [`Keys`]).
///
/// Every write is one Consul transaction that
/// - begins with the writer's fence: `check-index` on the generation key
///   (unchanged since this agent won the election) and `check-session` on
///   the leader key (this agent's session still holds the lock), so the
///   write of a deposed leader is rolled back ([`StoreError::Fenced`]);
///   an agent that does not lead cannot write at all;
/// - changes each key with `cas` / `delete-cas` at the `ModifyIndex` it
///   read (0: the key must not exist), so a concurrent change is never
///   overwritten: read-modify-write updates re-read and re-apply on a
///   conflict;
/// - marks each written key with a fresh random `Flags` value, so that
///   when an answer is lost (the client retries, and the retry meets its
///   own earlier write) the store can tell its own write from another's.
///
/// Reads are plain (default-consistency) reads and need no leadership.
#[derive(Clone)]
pub struct ConsulStore {
    client: ConsulClient,
    keys: Keys,
    role: watch::Receiver<Role>,
    max_attempts: u32,
}

/// What a write transaction did.
enum Outcome {
    Applied,
    /// A `cas`/`delete-cas` failed: the positions (in the caller's
    /// operations) of those that did.
    Conflict(Vec<usize>),
}

fn backend(e: ConsulError) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(value)?;
    check_size(key, &bytes)?;
    Ok(bytes)
}

fn check_size(key: &str, bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(StoreError::Backend(format!(
            "the record {key} is {} bytes, above Consul's {} KiB value limit (kv_max_value_size)",
            bytes.len(),
            MAX_VALUE_BYTES / 1024
        )));
    }
    Ok(())
}

fn nonce() -> u64 {
    rand::thread_rng().gen_range(1..u64::MAX)
}

fn cas(key: &str, value: &[u8], index: u64, nonce: u64) -> TxnOp {
    TxnOp::Kv(TxnKvOp {
        flags: nonce,
        ..TxnKvOp::cas(key, value, index)
    })
}

fn delete_cas(key: &str, index: u64) -> TxnOp {
    TxnOp::Kv(TxnKvOp::delete_cas(key, index))
}

fn text(pair: &KvPair) -> String {
    String::from_utf8_lossy(pair.value.as_deref().unwrap_or_default()).into_owned()
}

/// A short random pause before retrying a lost check-and-set, growing with
/// the attempt so that contending writers spread out.
async fn backoff(attempt: u32) {
    let cap = 1u64 << attempt.min(6);
    let ms = rand::thread_rng().gen_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

impl ConsulStore {
    /// A store over `client` with the layout `keys`, writing as the agent
    /// whose election role is `role` (from
    /// [`LeaderElection::role`](crate::LeaderElection::role)).
    pub fn new(client: ConsulClient, keys: Keys, role: watch::Receiver<Role>) -> ConsulStore {
        ConsulStore {
            client,
            keys,
            role,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Sets how many times a lost check-and-set is retried.
    pub fn with_max_attempts(mut self, attempts: u32) -> ConsulStore {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The fence operations of this agent's current role.
    fn fence(&self) -> Result<(Vec<TxnOp>, u64)> {
        let role = self.role.borrow().clone();
        match role {
            Role::Leader(fence) => Ok((
                vec![
                    TxnOp::Kv(TxnKvOp::check_index(
                        self.keys.generation(),
                        fence.generation_index,
                    )),
                    TxnOp::Kv(TxnKvOp {
                        verb: KvVerb::CheckSession,
                        key: self.keys.leader(),
                        value: None,
                        flags: 0,
                        index: 0,
                        session: Some(fence.session),
                    }),
                ],
                fence.generation,
            )),
            Role::Follower { leader } => Err(StoreError::Fenced(match leader {
                Some(l) => format!(
                    "agent {} at {} leads; changes must be sent there",
                    l.id, l.address
                ),
                None => "no agent leads right now; retry once one is elected".to_string(),
            })),
        }
    }

    /// Runs `ops` behind this agent's fence. `witness` is a key written by
    /// `ops` with its nonce: if the transaction seems to have failed but
    /// the key carries the nonce, an earlier try of this very transaction
    /// applied (its answer was lost) and this counts as applied.
    async fn commit(&self, ops: Vec<TxnOp>, witness: Option<(&str, u64)>) -> Result<Outcome> {
        let (mut all, generation) = self.fence()?;
        all.extend(ops);
        let err = match self.client.txn(&all).await {
            Ok(_) => return Ok(Outcome::Applied),
            Err(e) => e,
        };
        if let Some((key, nonce)) = witness {
            if let Ok((Some(pair), _)) = self.client.kv_get(key, &QueryOptions::default()).await {
                if pair.flags == nonce {
                    return Ok(Outcome::Applied);
                }
            }
        }
        match err {
            ConsulError::TxnRolledBack(errors) => {
                if errors.iter().any(|e| e.op_index < FENCE_OPS) {
                    return Err(self.fenced(generation).await);
                }
                Ok(Outcome::Conflict(
                    errors.iter().map(|e| e.op_index - FENCE_OPS).collect(),
                ))
            }
            other => Err(backend(other)),
        }
    }

    async fn fenced(&self, generation: u64) -> StoreError {
        let current = match self
            .client
            .kv_get(&self.keys.generation(), &QueryOptions::default())
            .await
        {
            Ok((Some(pair), _)) => text(&pair),
            _ => "unknown".to_string(),
        };
        StoreError::Fenced(format!(
            "this agent led generation {generation}, the current generation is {current}"
        ))
    }

    async fn read(&self, key: &str) -> Result<Option<KvPair>> {
        let (pair, _) = self
            .client
            .kv_get(key, &QueryOptions::default())
            .await
            .map_err(backend)?;
        Ok(pair)
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<(T, KvPair)>> {
        match self.read(key).await? {
            None => Ok(None),
            Some(pair) => {
                let value = serde_json::from_slice(pair.value.as_deref().unwrap_or_default())
                    .map_err(|e| StoreError::Backend(format!("the record {key}: {e}")))?;
                Ok(Some((value, pair)))
            }
        }
    }

    async fn list<T: DeserializeOwned>(&self, kind: Kind) -> Result<Vec<(String, T)>> {
        let (pairs, _) = self
            .client
            .kv_list(&self.keys.folder(kind), &QueryOptions::default())
            .await
            .map_err(backend)?;
        let mut out = Vec::with_capacity(pairs.len());
        for pair in pairs {
            if let Some(name) = self.keys.name_of(kind, &pair.key) {
                let value = serde_json::from_slice(pair.value.as_deref().unwrap_or_default())
                    .map_err(|e| StoreError::Backend(format!("the record {}: {e}", pair.key)))?;
                out.push((name, value));
            }
        }
        Ok(out)
    }

    async fn list_raw(&self, kind: Kind) -> Result<Vec<(String, KvPair)>> {
        let (pairs, _) = self
            .client
            .kv_list(&self.keys.folder(kind), &QueryOptions::default())
            .await
            .map_err(backend)?;
        Ok(pairs
            .into_iter()
            .filter_map(|p| self.keys.name_of(kind, &p.key).map(|name| (name, p)))
            .collect())
    }

    /// Writes `bytes` at `key` whatever is there, by check-and-set at the
    /// index just read (retried when another write slips in between).
    async fn replace(&self, key: &str, bytes: &[u8]) -> Result<()> {
        for attempt in 0..self.max_attempts {
            let index = self.read(key).await?.map_or(0, |p| p.modify_index);
            let n = nonce();
            match self
                .commit(vec![cas(key, bytes, index, n)], Some((key, n)))
                .await?
            {
                Outcome::Applied => return Ok(()),
                Outcome::Conflict(_) => backoff(attempt).await,
            }
        }
        Err(self.contended(key))
    }

    fn contended(&self, key: &str) -> StoreError {
        StoreError::Contended(format!(
            "{key} kept changing under {} check-and-set attempts; retry later",
            self.max_attempts
        ))
    }
}

#[async_trait]
impl StateStore for ConsulStore {
    async fn insert_database_with_operation(
        &self,
        db: &DatabaseRecord,
        op: &OperationRecord,
    ) -> Result<()> {
        let db_key = self.keys.item(Kind::Database, &db.name);
        let op_key = self.keys.item(Kind::Operation, &op.op.id);
        let db_bytes = encode(&db_key, db)?;
        let op_bytes = encode(&op_key, op)?;
        let n = nonce();
        // Both keys must be new: the name is reserved and the operation
        // recorded together, or neither.
        let ops = vec![cas(&db_key, &db_bytes, 0, n), cas(&op_key, &op_bytes, 0, n)];
        match self.commit(ops, Some((&db_key, n))).await? {
            Outcome::Applied => Ok(()),
            Outcome::Conflict(failed) if failed.contains(&0) => {
                Err(StoreError::AlreadyExists(format!("database {:?}", db.name)))
            }
            Outcome::Conflict(_) => Err(StoreError::AlreadyExists(format!(
                "operation {:?}",
                op.op.id
            ))),
        }
    }

    async fn get_database(&self, name: &str) -> Result<Option<DatabaseRecord>> {
        Ok(self
            .get(&self.keys.item(Kind::Database, name))
            .await?
            .map(|(db, _)| db))
    }

    async fn put_database(&self, db: &DatabaseRecord) -> Result<()> {
        let key = self.keys.item(Kind::Database, &db.name);
        let bytes = encode(&key, db)?;
        self.replace(&key, &bytes).await
    }

    async fn update_database(
        &self,
        name: &str,
        f: &mut (dyn for<'r> FnMut(&'r mut DatabaseRecord) + Send),
    ) -> Result<Option<DatabaseRecord>> {
        let key = self.keys.item(Kind::Database, name);
        for attempt in 0..self.max_attempts {
            let Some((mut db, pair)) = self.get::<DatabaseRecord>(&key).await? else {
                return Ok(None);
            };
            f(&mut db);
            let bytes = encode(&key, &db)?;
            let n = nonce();
            let ops = vec![cas(&key, &bytes, pair.modify_index, n)];
            match self.commit(ops, Some((&key, n))).await? {
                Outcome::Applied => return Ok(Some(db)),
                Outcome::Conflict(_) => backoff(attempt).await,
            }
        }
        Err(self.contended(&key))
    }

    async fn remove_database(&self, name: &str, id: &str) -> Result<()> {
        let key = self.keys.item(Kind::Database, name);
        for attempt in 0..self.max_attempts {
            let Some((db, pair)) = self.get::<DatabaseRecord>(&key).await? else {
                return Ok(());
            };
            if db.id != id {
                return Ok(());
            }
            match self
                .commit(vec![delete_cas(&key, pair.modify_index)], None)
                .await?
            {
                Outcome::Applied => return Ok(()),
                // Changed meanwhile (or our delete applied and its answer
                // was lost): look again.
                Outcome::Conflict(_) => backoff(attempt).await,
            }
        }
        Err(self.contended(&key))
    }

    async fn list_databases(&self) -> Result<Vec<DatabaseRecord>> {
        let mut dbs: Vec<DatabaseRecord> = self
            .list::<DatabaseRecord>(Kind::Database)
            .await?
            .into_iter()
            .map(|(_, db)| db)
            .collect();
        dbs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(dbs)
    }

    async fn get_operation(&self, id: &str) -> Result<Option<OperationRecord>> {
        Ok(self
            .get(&self.keys.item(Kind::Operation, id))
            .await?
            .map(|(op, _)| op))
    }

    async fn put_operation(&self, op: &OperationRecord) -> Result<()> {
        let key = self.keys.item(Kind::Operation, &op.op.id);
        let bytes = encode(&key, op)?;
        self.replace(&key, &bytes).await
    }

    async fn list_operations(&self) -> Result<Vec<OperationRecord>> {
        let mut ops: Vec<OperationRecord> = self
            .list::<OperationRecord>(Kind::Operation)
            .await?
            .into_iter()
            .map(|(_, op)| op)
            .collect();
        ops.sort_by(|a, b| {
            a.op.created_at
                .cmp(&b.op.created_at)
                .then(a.op.id.cmp(&b.op.id))
        });
        Ok(ops)
    }

    async fn allocate_address(
        &self,
        owner: &str,
        candidates: &mut (dyn Iterator<Item = String> + Send),
    ) -> Result<String> {
        let owner_key = self.keys.item(Kind::AddressOwner, owner);
        // Candidates drawn so far, in order: a retry looks at them again.
        let mut drawn: Vec<String> = Vec::new();
        for attempt in 0..self.max_attempts {
            let mut used = HashSet::new();
            for (addr, pair) in self.list_raw(Kind::Address).await? {
                if text(&pair) == owner {
                    return Ok(addr);
                }
                used.insert(addr);
            }
            let mut chosen = drawn.iter().find(|c| !used.contains(*c)).cloned();
            while chosen.is_none() {
                let Some(c) = candidates.next() else { break };
                drawn.push(c.clone());
                if !used.contains(&c) {
                    chosen = Some(c);
                }
            }
            let Some(addr) = chosen else {
                return Err(StoreError::PoolExhausted(used.len()));
            };
            // The owner's reverse entry is written in the same transaction:
            // an owner racing itself gets one address, not two.
            let owner_index = self.read(&owner_key).await?.map_or(0, |p| p.modify_index);
            let addr_key = self.keys.item(Kind::Address, &addr);
            let n = nonce();
            let ops = vec![
                cas(&addr_key, owner.as_bytes(), 0, n),
                cas(&owner_key, addr.as_bytes(), owner_index, n),
            ];
            match self.commit(ops, Some((&addr_key, n))).await? {
                Outcome::Applied => return Ok(addr),
                Outcome::Conflict(_) => backoff(attempt).await,
            }
        }
        Err(self.contended(&owner_key))
    }

    async fn address_of(&self, owner: &str) -> Result<Option<String>> {
        Ok(self
            .read(&self.keys.item(Kind::AddressOwner, owner))
            .await?
            .map(|p| text(&p)))
    }

    async fn release_address(&self, owner: &str) -> Result<()> {
        let owner_key = self.keys.item(Kind::AddressOwner, owner);
        for attempt in 0..self.max_attempts {
            let mut ops: Vec<TxnOp> = self
                .list_raw(Kind::Address)
                .await?
                .into_iter()
                .filter(|(_, pair)| text(pair) == owner)
                .map(|(_, pair)| delete_cas(&pair.key, pair.modify_index))
                .collect();
            if let Some(pair) = self.read(&owner_key).await? {
                ops.push(delete_cas(&owner_key, pair.modify_index));
            }
            if ops.is_empty() {
                return Ok(());
            }
            match self.commit(ops, None).await? {
                Outcome::Applied => return Ok(()),
                Outcome::Conflict(_) => backoff(attempt).await,
            }
        }
        Err(self.contended(&owner_key))
    }

    async fn list_addresses(&self) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = self
            .list_raw(Kind::Address)
            .await?
            .into_iter()
            .map(|(addr, pair)| (addr, text(&pair)))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn put_sql_output(&self, job_id: &str, out: &SqlOutput) -> Result<()> {
        let key = self.keys.item(Kind::SqlOutput, job_id);
        let bytes = encode(&key, out)?;
        self.replace(&key, &bytes).await
    }

    async fn get_sql_output(&self, job_id: &str) -> Result<Option<SqlOutput>> {
        Ok(self
            .get(&self.keys.item(Kind::SqlOutput, job_id))
            .await?
            .map(|(out, _)| out))
    }
}
