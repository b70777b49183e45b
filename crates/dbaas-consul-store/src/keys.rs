//! Where each record lives in Consul's KV store.

/// The key layout of one dbaas cluster under a prefix (default `dbaas`):
///
/// ```text
/// <prefix>/<cluster>/databases/<name>        DatabaseRecord (JSON)
/// <prefix>/<cluster>/operations/<id>         OperationRecord (JSON)
/// <prefix>/<cluster>/addresses/<address>     owner (text)
/// <prefix>/<cluster>/address-owners/<owner>  address (text)
/// <prefix>/<cluster>/sql-outputs/<job id>    SqlOutput (JSON)
/// <prefix>/<cluster>/leader                  the leader lock: LeaderInfo (JSON)
/// <prefix>/<cluster>/generation              the leadership generation (decimal)
/// ```
///
/// Each name is one path segment: characters other than ASCII letters,
/// digits and `.`, `_`, `:`, `-` are percent-encoded, so no name can reach
/// another record's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    root: String,
}

impl Keys {
    /// The layout of `cluster` under `prefix`. Both must be non-empty
    /// words (`[A-Za-z0-9._-]`, `/` allowed inside the prefix).
    pub fn new(prefix: &str, cluster: &str) -> Result<Keys, String> {
        let prefix = prefix.trim_matches('/');
        let word = |s: &str, slash: bool| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || (slash && c == '/'))
        };
        if !word(prefix, true) || prefix.contains("//") {
            return Err(format!(
                "Consul key prefix {prefix:?} must be words of letters, digits, '.', '_', '-' separated by '/'"
            ));
        }
        if !word(cluster, false) {
            return Err(format!(
                "cluster name {cluster:?} must be a non-empty word of letters, digits, '.', '_', '-'"
            ));
        }
        Ok(Keys {
            root: format!("{prefix}/{cluster}/"),
        })
    }

    /// `<prefix>/<cluster>/`, under which everything lives.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The leader lock.
    pub fn leader(&self) -> String {
        format!("{}leader", self.root)
    }

    /// The leadership generation counter.
    pub fn generation(&self) -> String {
        format!("{}generation", self.root)
    }

    pub(crate) fn folder(&self, kind: Kind) -> String {
        format!("{}{}/", self.root, kind.dir())
    }

    pub(crate) fn item(&self, kind: Kind, name: &str) -> String {
        format!("{}{}", self.folder(kind), encode(name))
    }

    /// The name of an item from its full key, if the key is of `kind`.
    pub(crate) fn name_of(&self, kind: Kind, key: &str) -> Option<String> {
        key.strip_prefix(&self.folder(kind))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .and_then(decode)
    }
}

/// The kinds of records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Database,
    Operation,
    Address,
    AddressOwner,
    SqlOutput,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Database => "databases",
            Kind::Operation => "operations",
            Kind::Address => "addresses",
            Kind::AddressOwner => "address-owners",
            Kind::SqlOutput => "sql-outputs",
        }
    }
}

fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"._:-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_their_folder() {
        let keys = Keys::new("dbaas", "prod").unwrap();
        let key = keys.item(Kind::Database, "../leader");
        assert_eq!(key, "dbaas/prod/databases/..%2Fleader");
        assert_eq!(
            keys.name_of(Kind::Database, &key).as_deref(),
            Some("../leader")
        );
        let addr = keys.item(Kind::Address, "10.0.0.1:5432");
        assert_eq!(addr, "dbaas/prod/addresses/10.0.0.1:5432");
        assert_eq!(keys.name_of(Kind::Database, &addr), None);
        assert_eq!(keys.leader(), "dbaas/prod/leader");
    }

    #[test]
    fn refuses_prefixes_and_clusters_that_are_not_words() {
        assert!(Keys::new("dbaas", "").is_err());
        assert!(Keys::new("dbaas", "a/b").is_err());
        assert!(Keys::new("a//b", "c").is_err());
        assert!(Keys::new("", "c").is_err());
        assert_eq!(
            Keys::new("/svc/dbaas/", "c").unwrap().root(),
            "svc/dbaas/c/"
        );
    }
}
