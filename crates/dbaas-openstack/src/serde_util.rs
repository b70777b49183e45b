//! Small serde helpers for the quirks of OpenStack payloads.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time as OpenStack writes it.
///
/// Keystone and Neutron write RFC 3339 with `Z`; Cinder, Heat and some
/// Neutron resources write the same without any zone (`2018-11-28T06:21:12.715987`),
/// which every service means as UTC. Both decode to the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Parses either form; a time without a zone is taken as UTC.
    pub fn parse(s: &str) -> Option<Timestamp> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(Timestamp(t.with_timezone(&Utc)));
        }
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| Timestamp(n.and_utc()))
    }
}

/// How long after its `created_at` a resource's place in the creation
/// order is final. Cinder and Neutron stamp `created_at` to the second, so
/// a resource made later within the same second can sort before one made
/// earlier (the id breaks the tie). A caller that picks "the oldest" among
/// racing creations must therefore wait until no later creation can share
/// the second of the one it picks; any creation it cannot yet see then has
/// a strictly later stamp and can never become the oldest.
pub const CREATION_ORDER_SETTLES_AFTER: std::time::Duration =
    std::time::Duration::from_millis(2200);

/// How much longer to wait before the creation order around a resource
/// stamped `created_at` is final (see [`CREATION_ORDER_SETTLES_AFTER`]);
/// `None` once it is.
pub fn creation_order_unsettled(created_at: Option<Timestamp>) -> Option<std::time::Duration> {
    let t = created_at?;
    let settled = t.0 + chrono::Duration::from_std(CREATION_ORDER_SETTLES_AFTER).ok()?;
    let left = (settled - Utc::now()).to_std().ok()?;
    // A clock far behind the service's must not make us wait for ever.
    Some(left.min(CREATION_ORDER_SETTLES_AFTER)).filter(|d| !d.is_zero())
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {s:?}")))
    }
}

/// A secret (password, application credential secret, token): serialized
/// as-is, but never shown by `Debug`, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

/// Deserializes a field that may be absent (`None`), explicitly `null`
/// (`Some(None)`) or set (`Some(Some(v))`). Request bodies need the three
/// states: some services apply defaults only when a field is absent, and
/// `"port_id": null` is how Neutron is told to disassociate.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_order_of_a_resource_made_just_now_is_not_final_yet() {
        let now = Timestamp(Utc::now());
        let wait = creation_order_unsettled(Some(now)).expect("just made: not settled");
        assert!(wait <= CREATION_ORDER_SETTLES_AFTER);
        let old = Timestamp(Utc::now() - chrono::Duration::seconds(5));
        assert_eq!(creation_order_unsettled(Some(old)), None);
        // A service clock far ahead never makes a caller wait longer than
        // the settling time.
        let future = Timestamp(Utc::now() + chrono::Duration::hours(1));
        assert_eq!(
            creation_order_unsettled(Some(future)),
            Some(CREATION_ORDER_SETTLES_AFTER)
        );
        assert_eq!(creation_order_unsettled(None), None);
    }
}
