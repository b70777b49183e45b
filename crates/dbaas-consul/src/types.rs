//! The JSON shapes of the Consul endpoints we use, in Consul's own casing.
//!
//! Every struct tolerates unknown fields (serde's default) and missing ones
//! (`#[serde(default)]`), because Consul adds fields between versions and
//! Enterprise-only fields (`Namespace`, `Partition`) come and go. Lists and
//! maps that Consul writes as `null` when empty decode to empty values so
//! callers need not tell `null` from `[]`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration;
use crate::error::ConsulError;

/// Decodes `null` as the type's default (Consul writes `null` for empty
/// lists and maps, e.g. `"Tags": null`).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Serde adapter for KV `Value`: base64 text on the wire, bytes in Rust.
mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("KV Value is not base64: {e}"))),
        }
    }
}

/// Serde adapter for a non-optional duration sent by Consul as integer
/// nanoseconds (session `LockDelay`).
mod nanos {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        duration::opt_nanos::serialize(&Some(*d), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(duration::opt_nanos::deserialize(d)?.unwrap_or_default())
    }
}

// ---------------------------------------------------------------- KV

/// One entry of the KV store as `GET /v1/kv/:key` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KvPair {
    /// The full key, without a leading `/`.
    pub key: String,
    /// The index at which the key was created.
    pub create_index: u64,
    /// The index of the last write; the value to pass as `cas` to update
    /// this exact version.
    pub modify_index: u64,
    /// How many times a session has acquired the key's lock.
    pub lock_index: u64,
    /// An opaque integer stored with the entry (`?flags=`).
    pub flags: u64,
    /// The value, decoded from base64; `None` when the key holds no data.
    #[serde(with = "base64_bytes", skip_serializing_if = "Option::is_none")]
    pub value: Option<Vec<u8>>,
    /// The session holding the key's lock, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

// ---------------------------------------------------------------- transactions

/// A KV value in Consul's wire form (base64 text), as a transaction carries it.
///
/// Transactions keep the text rather than bytes so a decoded operation
/// re-encodes exactly as it was received, and so a result whose value was
/// not base64 (the documentation's placeholder) does not make the whole
/// response undecodable; [`Base64Value::decode`] checks it when asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Base64Value(String);

impl Base64Value {
    /// Encodes raw bytes.
    pub fn from_bytes(bytes: impl AsRef<[u8]>) -> Self {
        Self(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()))
    }

    /// The base64 text as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decodes the bytes; fails if Consul sent something that is not base64.
    pub fn decode(&self) -> Result<Vec<u8>, ConsulError> {
        base64::engine::general_purpose::STANDARD
            .decode(self.0.as_bytes())
            .map_err(|e| ConsulError::Decode {
                what: "a transaction's KV Value".to_string(),
                detail: format!("not base64: {e}"),
            })
    }
}

/// The verb of a KV operation in a transaction (`PUT /v1/txn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvVerb {
    /// Write the value unconditionally.
    Set,
    /// Write only if `Index` equals the key's `ModifyIndex` (0: only if absent).
    Cas,
    /// Read one key (fails the transaction if absent).
    Get,
    /// Read every key under a prefix.
    GetTree,
    /// Fail the transaction unless the key's `ModifyIndex` equals `Index`.
    CheckIndex,
    /// Fail the transaction unless `Session` holds the key's lock.
    CheckSession,
    /// Fail the transaction if the key exists.
    CheckNotExists,
    /// Delete one key.
    Delete,
    /// Delete every key under a prefix.
    DeleteTree,
    /// Delete only if `Index` equals the key's `ModifyIndex`.
    DeleteCas,
    /// Acquire the key's lock for `Session` and write the value.
    Lock,
    /// Release the key's lock held by `Session` and write the value.
    Unlock,
    /// A verb this crate does not know, kept verbatim so it re-encodes as-is.
    Other(String),
}

impl KvVerb {
    /// The verb's spelling on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            KvVerb::Set => "set",
            KvVerb::Cas => "cas",
            KvVerb::Get => "get",
            KvVerb::GetTree => "get-tree",
            KvVerb::CheckIndex => "check-index",
            KvVerb::CheckSession => "check-session",
            KvVerb::CheckNotExists => "check-not-exists",
            KvVerb::Delete => "delete",
            KvVerb::DeleteTree => "delete-tree",
            KvVerb::DeleteCas => "delete-cas",
            KvVerb::Lock => "lock",
            KvVerb::Unlock => "unlock",
            KvVerb::Other(s) => s,
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "set" => KvVerb::Set,
            "cas" => KvVerb::Cas,
            "get" => KvVerb::Get,
            "get-tree" => KvVerb::GetTree,
            "check-index" => KvVerb::CheckIndex,
            "check-session" => KvVerb::CheckSession,
            "check-not-exists" => KvVerb::CheckNotExists,
            "delete" => KvVerb::Delete,
            "delete-tree" => KvVerb::DeleteTree,
            "delete-cas" => KvVerb::DeleteCas,
            "lock" => KvVerb::Lock,
            "unlock" => KvVerb::Unlock,
            other => KvVerb::Other(other.to_string()),
        }
    }
}

impl fmt::Display for KvVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for KvVerb {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KvVerb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(KvVerb::parse(&String::deserialize(d)?))
    }
}

/// A KV operation inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnKvOp {
    /// What to do.
    pub verb: KvVerb,
    /// The key (or prefix, for the `-tree` verbs).
    pub key: String,
    /// The value to write, for writing verbs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Base64Value>,
    /// Flags stored with the entry. Always sent: Consul's own template does.
    #[serde(default)]
    pub flags: u64,
    /// The `ModifyIndex` for `cas`, `delete-cas` and `check-index`.
    #[serde(default)]
    pub index: u64,
    /// The session for `lock`, `unlock` and `check-session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl TxnKvOp {
    fn new(verb: KvVerb, key: impl Into<String>) -> Self {
        Self {
            verb,
            key: key.into(),
            value: None,
            flags: 0,
            index: 0,
            session: None,
        }
    }

    /// Writes `value` unconditionally.
    pub fn set(key: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        Self {
            value: Some(Base64Value::from_bytes(value)),
            ..Self::new(KvVerb::Set, key)
        }
    }

    /// Writes `value` only if the key's `ModifyIndex` is `index` (0: absent).
    pub fn cas(key: impl Into<String>, value: impl AsRef<[u8]>, index: u64) -> Self {
        Self {
            value: Some(Base64Value::from_bytes(value)),
            index,
            ..Self::new(KvVerb::Cas, key)
        }
    }

    /// Reads the key into the results.
    pub fn get(key: impl Into<String>) -> Self {
        Self::new(KvVerb::Get, key)
    }

    /// Deletes the key.
    pub fn delete(key: impl Into<String>) -> Self {
        Self::new(KvVerb::Delete, key)
    }

    /// Deletes the key only if its `ModifyIndex` is `index`.
    pub fn delete_cas(key: impl Into<String>, index: u64) -> Self {
        Self {
            index,
            ..Self::new(KvVerb::DeleteCas, key)
        }
    }

    /// Fails the transaction unless the key's `ModifyIndex` is `index`.
    pub fn check_index(key: impl Into<String>, index: u64) -> Self {
        Self {
            index,
            ..Self::new(KvVerb::CheckIndex, key)
        }
    }

    /// Acquires the key's lock for `session`, writing `value`.
    pub fn lock(
        key: impl Into<String>,
        value: impl AsRef<[u8]>,
        session: impl Into<String>,
    ) -> Self {
        Self {
            value: Some(Base64Value::from_bytes(value)),
            session: Some(session.into()),
            ..Self::new(KvVerb::Lock, key)
        }
    }

    /// Releases the key's lock held by `session`, writing `value`.
    pub fn unlock(
        key: impl Into<String>,
        value: impl AsRef<[u8]>,
        session: impl Into<String>,
    ) -> Self {
        Self {
            value: Some(Base64Value::from_bytes(value)),
            session: Some(session.into()),
            ..Self::new(KvVerb::Unlock, key)
        }
    }
}

/// One operation of a transaction: a JSON object with a single key.
///
/// Only KV operations are typed so far; node, service and check operations
/// are carried as raw JSON so a transaction mixing them still round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TxnOp {
    /// A KV operation.
    #[serde(rename = "KV")]
    Kv(TxnKvOp),
    /// A catalog node operation (untyped for now).
    Node(serde_json::Value),
    /// A catalog service operation (untyped for now).
    Service(serde_json::Value),
    /// A health check operation (untyped for now).
    Check(serde_json::Value),
}

/// A KV entry in a transaction's results. `Value` is `null` except for
/// the read verbs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TxnKvResult {
    /// The key.
    pub key: String,
    /// See [`KvPair::create_index`].
    pub create_index: u64,
    /// See [`KvPair::modify_index`].
    pub modify_index: u64,
    /// See [`KvPair::lock_index`].
    pub lock_index: u64,
    /// See [`KvPair::flags`].
    pub flags: u64,
    /// The value as base64 text, for the read verbs.
    pub value: Option<Base64Value>,
    /// The lock-holding session, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl TxnKvResult {
    /// Converts to a [`KvPair`], decoding the value.
    pub fn into_pair(self) -> Result<KvPair, ConsulError> {
        let value = self.value.as_ref().map(Base64Value::decode).transpose()?;
        Ok(KvPair {
            key: self.key,
            create_index: self.create_index,
            modify_index: self.modify_index,
            lock_index: self.lock_index,
            flags: self.flags,
            value,
            session: self.session,
        })
    }
}

/// One entry of a transaction's `Results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TxnResult {
    /// The state of a KV entry after the operation.
    #[serde(rename = "KV")]
    Kv(TxnKvResult),
    /// A catalog node (untyped for now).
    Node(serde_json::Value),
    /// A catalog service (untyped for now).
    Service(serde_json::Value),
    /// A health check (untyped for now).
    Check(serde_json::Value),
    /// A result kind this crate does not know (newer Consul), kept as JSON
    /// so the rest of the response still decodes.
    #[serde(untagged)]
    Other(serde_json::Value),
}

/// Why one operation rolled a transaction back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TxnError {
    /// The position of the failed operation in the request (from 0).
    pub op_index: usize,
    /// Consul's explanation.
    pub what: String,
}

/// The body of a `PUT /v1/txn` answer: `Results` on success (HTTP 200),
/// `Errors` when rolled back (HTTP 409).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TxnResponse {
    /// One entry per operation that produces a result (deletes produce none).
    #[serde(deserialize_with = "nullable")]
    pub results: Vec<TxnResult>,
    /// The failures that rolled the transaction back.
    #[serde(deserialize_with = "nullable")]
    pub errors: Vec<TxnError>,
}

// ---------------------------------------------------------------- sessions

/// What happens to the locks a session holds when it is invalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionBehavior {
    /// Release the locks, keep the keys (Consul's default).
    #[default]
    Release,
    /// Delete the locked keys.
    Delete,
}

/// A service check a session is tied to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceCheckRef {
    /// The check's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The check's namespace (Enterprise); empty for the default.
    #[serde(rename = "Namespace", skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The body of `PUT /v1/session/create`. Unset fields take Consul's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SessionCreate {
    /// How long a released lock cannot be re-acquired; sent as `"15s"`.
    #[serde(with = "duration::opt_text", skip_serializing_if = "Option::is_none")]
    pub lock_delay: Option<Duration>,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The node the session belongs to (default: the agent's node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Health checks that invalidate the session (older form of `NodeChecks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<String>>,
    /// Node checks that invalidate the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_checks: Option<Vec<String>>,
    /// Service checks that invalidate the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_checks: Option<Vec<ServiceCheckRef>>,
    /// What happens to held locks on invalidation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behavior: Option<SessionBehavior>,
    /// Time to live, 10s to 86400s; sent as `"30s"`. `None`: no TTL.
    #[serde(
        rename = "TTL",
        with = "duration::opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<Duration>,
}

/// The answer to `PUT /v1/session/create`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionCreated {
    /// The new session's ID.
    #[serde(rename = "ID")]
    pub id: String,
}

/// A session as `GET /v1/session/info/:id` and renew return it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SessionEntry {
    /// The session's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Its name.
    pub name: String,
    /// The node it belongs to.
    pub node: String,
    /// The lock delay; integer nanoseconds on the wire.
    #[serde(with = "nanos")]
    pub lock_delay: Duration,
    /// What happens to held locks on invalidation.
    pub behavior: SessionBehavior,
    /// Time to live (`"30s"` on the wire); `None` for a session without TTL.
    /// After a renew it may be longer than requested: renew less often then.
    #[serde(rename = "TTL", with = "duration::opt_text")]
    pub ttl: Option<Duration>,
    /// Health checks tied to the session (older Consul).
    #[serde(deserialize_with = "nullable")]
    pub checks: Vec<String>,
    /// Node checks tied to the session.
    #[serde(deserialize_with = "nullable")]
    pub node_checks: Vec<String>,
    /// Service checks tied to the session.
    #[serde(deserialize_with = "nullable")]
    pub service_checks: Vec<ServiceCheckRef>,
    /// The index at which the session was created.
    pub create_index: u64,
    /// The index of its last change.
    pub modify_index: u64,
}

// ---------------------------------------------------------------- health & catalog

/// A catalog node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    /// The node's UUID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The node's name.
    pub node: String,
    /// Its address.
    pub address: String,
    /// Its datacenter.
    pub datacenter: String,
    /// Addresses by kind (`lan`, `wan`, ...): plain strings on a node.
    #[serde(deserialize_with = "nullable")]
    pub tagged_addresses: BTreeMap<String, String>,
    /// Node metadata.
    #[serde(deserialize_with = "nullable")]
    pub meta: BTreeMap<String, String>,
    /// The index at which the node was registered.
    pub create_index: u64,
    /// The index of its last change.
    pub modify_index: u64,
}

/// An address and port, the form of a service's tagged addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceAddress {
    /// The address.
    pub address: String,
    /// The port.
    pub port: u16,
}

/// DNS weights of a service instance by health.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Weights {
    /// Weight when passing.
    pub passing: i64,
    /// Weight when warning.
    pub warning: i64,
}

/// A service instance registered on a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentService {
    /// The instance ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The service name.
    pub service: String,
    /// Tags (`null` on the wire decodes as empty).
    #[serde(deserialize_with = "nullable")]
    pub tags: Vec<String>,
    /// The instance's address; empty means "use the node's address".
    pub address: String,
    /// Addresses by kind: address and port objects on a service.
    #[serde(deserialize_with = "nullable")]
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    /// Service metadata.
    #[serde(deserialize_with = "nullable")]
    pub meta: BTreeMap<String, String>,
    /// The port.
    pub port: u16,
    /// DNS weights.
    pub weights: Option<Weights>,
    /// The namespace (Enterprise).
    pub namespace: String,
}

/// The state of a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Healthy.
    Passing,
    /// Degraded but serving.
    Warning,
    /// Failing.
    Critical,
    /// In maintenance mode.
    Maintenance,
    /// A state this crate does not know; treat as not passing.
    #[default]
    #[serde(other)]
    Unknown,
}

impl HealthStatus {
    /// The spelling Consul uses in URLs (`/v1/health/state/:state`).
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthStatus::Passing => "passing",
            HealthStatus::Warning => "warning",
            HealthStatus::Critical => "critical",
            HealthStatus::Maintenance => "maintenance",
            HealthStatus::Unknown => "unknown",
        }
    }
}

/// A health check and its current state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthCheck {
    /// The node the check runs on.
    pub node: String,
    /// The check's ID (`serfHealth` for the node's agent liveness).
    #[serde(rename = "CheckID")]
    pub check_id: String,
    /// Its name.
    pub name: String,
    /// Its state.
    pub status: HealthStatus,
    /// Free-form notes.
    pub notes: String,
    /// The last output of the check.
    pub output: String,
    /// The service it checks; empty for a node check.
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    /// The service's name.
    pub service_name: String,
    /// The service's tags.
    #[serde(deserialize_with = "nullable")]
    pub service_tags: Vec<String>,
    /// The namespace (Enterprise).
    pub namespace: String,
    /// The index at which the check was registered.
    pub create_index: u64,
    /// The index of its last change.
    pub modify_index: u64,
}

/// One instance of a service with its node and checks, from
/// `GET /v1/health/service/:service`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceEntry {
    /// The node running the instance.
    pub node: Node,
    /// The instance.
    pub service: AgentService,
    /// The node's and the instance's checks.
    #[serde(deserialize_with = "nullable")]
    pub checks: Vec<HealthCheck>,
}

impl ServiceEntry {
    /// Whether every check passes, the rule `?passing` applies server-side.
    pub fn is_passing(&self) -> bool {
        self.checks
            .iter()
            .all(|c| c.status == HealthStatus::Passing)
    }

    /// The address to connect to: the service's, else the node's (Consul's
    /// documented fallback for an empty service address).
    pub fn address(&self) -> &str {
        if self.service.address.is_empty() {
            &self.node.address
        } else {
            &self.service.address
        }
    }
}

/// One instance of a service as the catalog lists it, from
/// `GET /v1/catalog/service/:service` (no health information).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CatalogServiceNode {
    /// The node's UUID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The node's name.
    pub node: String,
    /// The node's address.
    pub address: String,
    /// The datacenter.
    pub datacenter: String,
    /// The node's tagged addresses.
    #[serde(deserialize_with = "nullable")]
    pub tagged_addresses: BTreeMap<String, String>,
    /// The node's metadata.
    #[serde(deserialize_with = "nullable")]
    pub node_meta: BTreeMap<String, String>,
    /// The index at which the instance was registered.
    pub create_index: u64,
    /// The index of its last change.
    pub modify_index: u64,
    /// The instance's address; empty means "use the node's address".
    pub service_address: String,
    /// Whether tags may be overridden by anti-entropy.
    pub service_enable_tag_override: bool,
    /// The instance ID.
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    /// The service name.
    pub service_name: String,
    /// The instance's port.
    pub service_port: u16,
    /// The instance's metadata.
    #[serde(deserialize_with = "nullable")]
    pub service_meta: BTreeMap<String, String>,
    /// The instance's tagged addresses.
    #[serde(deserialize_with = "nullable")]
    pub service_tagged_addresses: BTreeMap<String, ServiceAddress>,
    /// The instance's tags.
    #[serde(deserialize_with = "nullable")]
    pub service_tags: Vec<String>,
    /// The namespace (Enterprise).
    pub namespace: String,
}

/// A node and its services, from `GET /v1/catalog/node/:node`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CatalogNode {
    /// The node; `None` if the catalog does not know it.
    pub node: Option<Node>,
    /// Its services by instance ID.
    #[serde(deserialize_with = "nullable")]
    pub services: BTreeMap<String, AgentService>,
}
